// billing._lock_enforced_tables(): the first step of the extension's
// sql_drop event trigger (billing._objects_dropped, in
// src/sql/062_enforced_columns_ddl.sql).
//
// Every DROP in the database asks billing.enforced_tables whether what it
// dropped was enforced, and so waits for a transaction holding that table,
// such as a DROP EXTENSION.  Should that one commit, the table this DROP
// waited for is gone: locked here by name, as the catalog stands after the
// wait (not by the transaction's snapshot, which in REPEATABLE READ still
// shows the extension), the answer is then the new installation's table,
// or none.  None means there is nothing left to check, and the DROP goes
// on; an error would fail DDL that has nothing to do with billing, and a
// subtransaction to catch it would cost every DROP (0.14 ms, a helper's
// measurement of 2026-12-07).
#include "pg_boundary.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "storage/lockdefs.h"
}

namespace {

Datum lock_enforced_tables_body(FunctionCallInfo)
{
    RangeVar* table = makeRangeVar(pstrdup("billing"), pstrdup("enforced_tables"), -1);
    Oid relid = RangeVarGetRelidExtended(table, AccessShareLock, RVR_MISSING_OK, nullptr, nullptr);
    PG_RETURN_BOOL(OidIsValid(relid));
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_lock_enforced_tables, lock_enforced_tables_body)
}
