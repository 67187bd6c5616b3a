// billing._execute_after_locks(query, tenant_id, resources,
// refuse_usage_row_waits): runs a statement of the extension's own SQL (the
// gauge backfill, its take-back, recount) with the latest snapshot instead
// of the transaction's.
// billing._latest_text(query) reads one value so: recount's list of the
// tables it counts, which must be the list that holds once its locks are.
//
// Each of those first locks the enforced tables against writers, so that
// every row they will count is committed; then it counts.  In READ
// COMMITTED the counting statement gets a new snapshot anyway.  In
// REPEATABLE READ and SERIALIZABLE it would get the transaction's, taken
// before the lock was granted (by the statement that called the function,
// or earlier), which misses the rows of the writers the lock waited for:
// usage would be set too low or taken back too little.  The latest snapshot
// sees this transaction's own changes too (SPI advances the command counter).
#include "owner_spi.hpp"
#include "pg_boundary.hpp"
#include "usage_row_waits.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

using zechat::billing::pg::connect_spi;
using zechat::billing::pg::prepare_plan;
using zechat::billing::pg::set_usage_row_waits_refused;

namespace {

// The query argument, which must not be NULL.
char* query_argument(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("query must not be NULL")));
    return text_to_cstring(PG_GETARG_TEXT_PP(0));
}

// Connects to SPI and runs query with the latest snapshot (read_only: SPI
// refuses a query that would change anything); the caller reads what it
// needs of the result, then calls SPI_finish.
int run_with_latest_snapshot(const char* query, int nargs, Oid* types, Datum* values,
                             const char* nulls, bool read_only, long count)
{
    connect_spi();
    SPIPlanPtr plan = prepare_plan(query, nargs, types, "a query of its own");
    int rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(), InvalidSnapshot,
                                  read_only, false, count);
    if (rc < 0)
        elog(ERROR, "zechat_billing: a query of its own failed: %s", SPI_result_code_string(rc));
    return rc;
}

// $1 text (a tenant, or NULL for all), $2 text[] (resources, or NULL).
// The fourth argument, refuse_usage_row_waits: the usage rows the query
// sets are not waited for (usage_row_waits.hpp).
Datum execute_after_locks_body(FunctionCallInfo fcinfo)
{
    char* query = query_argument(fcinfo);
    Oid types[2] = {TEXTOID, TEXTARRAYOID};
    Datum values[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
    char nulls[2] = {PG_ARGISNULL(1) ? 'n' : ' ', PG_ARGISNULL(2) ? 'n' : ' '};
    bool refuse_waits = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
    set_usage_row_waits_refused(refuse_waits);
    PG_TRY();
    {
        (void)run_with_latest_snapshot(query, 2, types, values, nulls, false, 0);
        SPI_finish();
    }
    PG_FINALLY();
    {
        set_usage_row_waits_refused(false);
    }
    PG_END_TRY();
    PG_RETURN_VOID();
}

// $1 text: a query of one column and at most one row; its value as text,
// or NULL for no row or a NULL value.
Datum latest_text_body(FunctionCallInfo fcinfo)
{
    char* query = query_argument(fcinfo);
    int rc = run_with_latest_snapshot(query, 0, nullptr, nullptr, nullptr, true, 2);
    if (rc != SPI_OK_SELECT || SPI_processed > 1 || SPI_tuptable->tupdesc->natts != 1)
        elog(ERROR, "zechat_billing: a reading query must return one column of at most one row");
    char* value = SPI_processed == 0
                      ? nullptr
                      : SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    // Into the caller's memory: SPI_finish frees what the query allocated.
    Datum result = value == nullptr
                       ? (Datum)0
                       : SPI_datumTransfer(PointerGetDatum(cstring_to_text(value)), false, -1);
    SPI_finish();
    if (value == nullptr)
        PG_RETURN_NULL();
    return result;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_execute_after_locks, execute_after_locks_body)
ZB_GUARDED_ENTRY(zb_latest_text, latest_text_body)
}
