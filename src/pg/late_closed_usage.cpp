#include "late_closed_usage.hpp"

#include "billing_catalog.hpp"
#include "owner_spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

SPIPlanPtr add_plan = nullptr;
SPIPlanPtr contains_plan = nullptr;

// A release in flight takes the period's usage down, as it would have
// before the period closed, but never below 0.  The closed period is the
// one starting at $3 that ends at $4 or, if none, the first to end after
// it: a change that made the period longer from the same start moved
// nothing, and a later one closed that longer period (2-second periods made
// 4-second, then 8-second: until 2026-12-07 the consumption found no closed
// period and committed into the new one, 8 of 5; isolation
// lengthened_then_closed).
constexpr const char* add_query =
    "UPDATE billing.closed_periods AS c"
    "   SET used = GREATEST(c.used OPERATOR(pg_catalog.+) $5, 0)"
    " WHERE c.tenant_id OPERATOR(pg_catalog.=) $1 AND c.resource OPERATOR(pg_catalog.=) $2"
    "   AND c.period_start OPERATOR(pg_catalog.=) $3"
    "   AND c.period_end OPERATOR(pg_catalog.=) ("
    "       SELECT pg_catalog.min(o.period_end) FROM billing.closed_periods AS o"
    "        WHERE o.tenant_id OPERATOR(pg_catalog.=) $1 AND o.resource OPERATOR(pg_catalog.=) $2"
    "          AND o.period_start OPERATOR(pg_catalog.=) $3"
    "          AND o.period_end OPERATOR(pg_catalog.>=) $4)";

// $3 = $4 = the moment: a closed period that contains it, or a span of the
// tenant's time whose usage a schedule change counted in a later period
// (billing.carried_spans, 045_period_changes.sql).
constexpr const char* contains_query =
    "SELECT FROM billing.closed_periods AS c"
    " WHERE c.tenant_id OPERATOR(pg_catalog.=) $1 AND c.resource OPERATOR(pg_catalog.=) $2"
    "   AND c.period_start OPERATOR(pg_catalog.<=) $3 AND c.period_end OPERATOR(pg_catalog.>) $4"
    " UNION ALL "
    "SELECT FROM billing.carried_spans AS s"
    " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
    "   AND s.span_start OPERATOR(pg_catalog.<=) $3 AND s.span_end OPERATOR(pg_catalog.>) $4";

// Runs `query` on the closed period ($1 to $4, and $5 = delta when
// `nargs` is 5) as the extension owner, with the latest snapshot; how many
// rows it found.
uint64 run_on_closed_period(SPIPlanPtr* plan, const char* query, int nargs, const QuotaKey& key,
                            TimestampTz period_start, TimestampTz period_end, int64 delta)
{
    SavedUser saved;
    connect_spi_as_owner(&saved);
    if (*plan == nullptr) {
        Oid types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
        *plan = prepare_kept_plan(query, nargs, types);
    }
    Datum args[5] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start), TimestampTzGetDatum(period_end),
                     Int64GetDatum(delta)};
    bool read_only = nargs == 4;
    // Locked before the snapshot is taken, as the saved plan would lock it
    // only as it runs: a rewrite of the table committed while this waited
    // for its lock would leave the snapshot older than every row
    // (usage_store.cpp select_used; not reproduced here, the same order).
    Oid closed_periods = billing_table_if_present("closed_periods");
    if (OidIsValid(closed_periods))
        LockRelationOid(closed_periods, read_only ? AccessShareLock : RowExclusiveLock);
    Oid carried_spans = read_only ? billing_table_if_present("carried_spans") : InvalidOid;
    if (OidIsValid(carried_spans))
        LockRelationOid(carried_spans, AccessShareLock);
    int rc = SPI_execute_snapshot(*plan, args, nullptr, GetLatestSnapshot(), InvalidSnapshot,
                                  read_only, !read_only, 1);
    if (rc != (read_only ? SPI_OK_SELECT : SPI_OK_UPDATE))
        elog(ERROR, "zechat_billing: reading or adding to a closed period failed: %s",
             SPI_result_code_string(rc));
    uint64 found = SPI_processed;
    disconnect_spi(&saved);
    return found;
}

} // namespace

bool closed_period_contains(const QuotaKey& key, TimestampTz at)
{
    return run_on_closed_period(&contains_plan, contains_query, 4, key, at, at, 0) > 0;
}

bool add_to_closed_period(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                          int64 delta)
{
    return run_on_closed_period(&add_plan, add_query, 5, key, period_start, period_end, delta) == 1;
}

} // namespace zechat::billing::pg
