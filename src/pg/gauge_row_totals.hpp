// What a gauge table's own rows hold, per tenant, read the way enforcement
// reads a row (enforced_values.hpp): for TRUNCATE's trigger, the backfill
// and its take-back, recount, a retyped column, ATTACH and DETACH.
//
// Read by scanning the table in C, never by a query on it.  These reads run
// as the extension owner, and planning a query on an application table
// evaluates what that table's owner put there: an index expression calling
// an IMMUTABLE function of the owner's is folded by the planner, as the
// extension owner, and could make the owner of an enforced table a
// superuser (through TRUNCATE, ALTER COLUMN ... TYPE).  A scan runs
// nothing of the table's.  Nor does row-level security hide rows from it:
// usage counts every row.
#pragma once

#include "../core/tenant_key.hpp"
#include "pg_headers.hpp"

extern "C" {
#include "utils/hsearch.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
}

namespace zechat::billing::pg {

struct TenantTotal {
    char tenant_id[tenant_id_field_bytes]; // hash key, zero-padded
    int64 total;
};

// Per tenant (only `only_tenant`'s unless it is nullptr), the sum of the
// amounts of rel's own rows that `snapshot` sees (an inheritance child's
// rows never passed rel's triggers; a partitioned table holds none): an
// amount column's value, NULL and negative ones as 0, or 1 per row without
// one (InvalidAttrNumber).  Rows whose tenant cannot be billed (NULL,
// empty, longer than 63 bytes) are left out; tenants are told apart byte by
// byte, whatever the column's collation.  A table of TenantTotal in the
// current memory context.  22003 when a sum passes the bigint range.
// One tenant's rows are found through a b-tree index on a text tenant
// column when rel has one (tenant_index), else by reading every row.
HTAB* sum_rows_per_tenant(Relation rel, AttrNumber tenant_attnum, AttrNumber amount_attnum,
                          const char* only_tenant, Snapshot snapshot);

} // namespace zechat::billing::pg
