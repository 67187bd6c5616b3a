// How enforcement reads a row's tenant and amount, whichever trigger reads
// the row (a row trigger, or a statement trigger over the rows a statement
// inserted): the column types it accepts, how a value becomes the tenant id
// or an amount, and the rows it refuses to write.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// Whether enforcement reads a tenant column, or an amount column, of
// `base_type` (a domain's base type).
bool tenant_type_accepted(Oid base_type);
bool amount_type_accepted(Oid base_type);

// The tenant id of a tenant column's (non-NULL) value of `type`, one of the
// types enforce_quota accepts (text, varchar, uuid, bigint, integer, or a
// domain over one, given as its base type); also of the tenant argument of
// the quota functions (quota_functions.cpp).  Palloc'd.
const char* tenant_id_text(Datum value, Oid type);

// An amount column's (non-NULL) value of `type` (smallint, integer, bigint).
int64 amount_value(Datum value, Oid type);

// A row being written without a tenant cannot be billed: 22004.
[[noreturn]] void refuse_null_tenant(Relation rel, const char* resource);

// A row being written with a negative amount: 22023.
[[noreturn]] void refuse_negative_amount(Relation rel, int64 amount);

} // namespace zechat::billing::pg
