#include "late_closed_usage.hpp"

#include "billing_catalog.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

SPIPlanPtr add_plan = nullptr;

// A release in flight takes the period's usage down, as it would have
// before the period closed, but never below 0.
constexpr const char* add_query =
    "UPDATE billing.closed_periods AS c"
    "   SET used = GREATEST(c.used OPERATOR(pg_catalog.+) $5, 0)"
    " WHERE c.tenant_id OPERATOR(pg_catalog.=) $1 AND c.resource OPERATOR(pg_catalog.=) $2"
    "   AND c.period_start OPERATOR(pg_catalog.=) $3 AND c.period_end OPERATOR(pg_catalog.=) $4";

} // namespace

bool add_to_closed_period(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                          int64 delta)
{
    SavedUser saved;
    become_extension_owner(&saved);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "zechat_billing: SPI_connect failed");
    if (add_plan == nullptr) {
        Oid types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
        SPIPlanPtr plan = SPI_prepare(add_query, 5, types);
        if (plan == nullptr)
            elog(ERROR, "zechat_billing: could not prepare \"%s\": %s", add_query,
                 SPI_result_code_string(SPI_result));
        SPI_keepplan(plan);
        add_plan = plan;
    }
    Datum args[5] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start), TimestampTzGetDatum(period_end),
                     Int64GetDatum(delta)};
    int rc = SPI_execute_snapshot(add_plan, args, nullptr, GetLatestSnapshot(), InvalidSnapshot,
                                  false, true, 1);
    if (rc != SPI_OK_UPDATE)
        elog(ERROR, "zechat_billing: adding to a closed period failed: %s",
             SPI_result_code_string(rc));
    bool closed = SPI_processed == 1;
    SPI_finish();
    restore_user(&saved);
    return closed;
}

} // namespace zechat::billing::pg
