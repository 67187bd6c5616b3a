// Enforcement of a table's inserts once per statement, over the rows the
// statement wrote (billing.enforce_per_statement).
//
// The default INSERT trigger is a BEFORE ROW trigger: it consumes before
// each row is written, as the contract says.  But PostgreSQL turns off
// COPY's multi-row batching for any table with a BEFORE ROW INSERT trigger,
// which alone costs COPY a third of its speed.  A table whose enforcement is
// per statement has instead zzz_billing_<resource>_stmt, an AFTER INSERT
// FOR EACH STATEMENT trigger with a transition table: PostgreSQL writes the
// rows (batched), keeps a copy of each in the transition table, and at the
// end of the statement the trigger sums the amounts per tenant and consumes
// each tenant's sum in one admission.  Over the limit it raises PT402 there,
// so the statement fails and its rows go with it: all or nothing, as
// before, but the rows are written first.  Rows an INSERT ... ON CONFLICT
// did not write are not in the transition table, so they are not counted.
//
// Tenants are admitted in the order of their ids as text, whatever the
// order of the rows and the type of the tenant column: two statements
// consuming for the same tenants, into one table or two, take their locks
// (lock mode) in the same order.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/attnum.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"
}

namespace zechat::billing::pg {

// Where the tenant and the amount of an inserted row are, with the types
// enforced_values.hpp reads them as.
struct InsertedRowColumns {
    const char* resource;
    AttrNumber tenant_attnum;
    Oid tenant_type;
    AttrNumber amount_attnum; // InvalidAttrNumber: each row counts 1
    Oid amount_type;
};

// Consumes, for each tenant, the amounts of its rows among `rows` (the
// statement's new rows of rel, in rel's row type); refuses rows without a
// tenant or with a negative amount as the row trigger does.
void consume_inserted_rows(Relation rel, Tuplestorestate* rows, const InsertedRowColumns& columns);

} // namespace zechat::billing::pg
