#include "usage_alerts.hpp"

#include "billing_catalog.hpp"
#include "module_settings.hpp"
#include "owner_spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

char* zb_alert_thresholds = nullptr; // zechat_billing.alert_thresholds (module_settings.hpp)

namespace {

AlertThresholds thresholds = {0, {}}; // what it says, set by the assign hook

SPIPlanPtr record_plan = nullptr;

// The payload's period start: an ISO 8601 instant in UTC ("...+00:00"), as
// json_build_object writes a timestamptz, but not in the committing
// session's TimeZone, which made one period's start read differently from
// one alert to the next (a listener comparing it as text saw two periods).
char* period_start_in_utc(TimestampTz period_start)
{
    const int utc_offset = 0;
    return JsonEncodeDateTime(nullptr, TimestampTzGetDatum(period_start), TIMESTAMPTZOID,
                              &utc_offset);
}

const char* problem_text(ThresholdsProblem problem)
{
    switch (problem) {
    case ThresholdsProblem::not_a_number:
        return "Each entry must be a whole number of percent, as in '80,90,100'.";
    case ThresholdsProblem::out_of_range:
        return "Each percentage must be between 1 and 100.";
    case ThresholdsProblem::duplicate:
        return "A percentage is listed twice.";
    case ThresholdsProblem::too_many:
        return "At most 16 percentages can be listed.";
    case ThresholdsProblem::none:
        break;
    }
    return "";
}

// Rejects a bad list when it is set (SET, ALTER SYSTEM, postgresql.conf),
// with the reason; the parsed list travels to the assign hook as `extra`.
bool check_thresholds(char** newval, void** extra, GucSource)
{
    ThresholdsParse parse = parse_alert_thresholds(*newval != nullptr ? *newval : "");
    if (parse.problem != ThresholdsProblem::none) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("%s", problem_text(parse.problem));
        return false;
    }
    auto* parsed = static_cast<AlertThresholds*>(malloc(sizeof(AlertThresholds)));
    if (parsed == nullptr)
        return false;
    *parsed = parse.thresholds;
    *extra = parsed;
    return true;
}

void assign_thresholds(const char*, void* extra)
{
    if (extra != nullptr)
        thresholds = *static_cast<AlertThresholds*>(extra);
}

} // namespace

void define_alert_settings()
{
    DefineCustomStringVariable(
        "zechat_billing.alert_thresholds",
        "Usage percentages at which a committed consumption raises an alert.",
        "A comma-separated list of whole percentages from 1 to 100, such as '80,90,100'; "
        "empty for no alerts.",
        &zb_alert_thresholds, "80,90,100", PGC_SUSET, 0, check_thresholds, assign_thresholds, NULL);
}

const AlertThresholds& alert_thresholds()
{
    return thresholds;
}

void record_usage_alert(const QuotaKey& key, int threshold, TimestampTz period_start, int64 used,
                        int64 limit, bool notify)
{
    // None in 1.0 (billing_table_if_present).
    Oid alerts = billing_table_if_present("alerts");
    if (!OidIsValid(alerts))
        return;
    // Locked before the snapshot below is taken (the plan would lock it only
    // as it runs): a rewrite of billing.alerts committed while this waited
    // for its lock would otherwise leave the snapshot older than every row,
    // and ON CONFLICT meeting a row it cannot see fails a REPEATABLE READ
    // commit with 40001.
    LockRelationOid(alerts, RowExclusiveLock);
    SavedUser saved;
    connect_spi_as_owner(&saved);
    // Written here with the latest snapshot, not by a PL/pgSQL statement,
    // which would take the transaction's in REPEATABLE READ and
    // SERIALIZABLE: there ON CONFLICT meeting a row committed after that
    // snapshot (the threshold recorded by another transaction meanwhile)
    // fails with a serialization error, and it would fail this commit.
    // With the latest snapshot it sees the row and records nothing.  A
    // second transaction crossing the same threshold at the same time
    // (shared-memory mode lets two commit at once) waits for the first.
    if (record_plan == nullptr) {
        Oid types[7] = {TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID, INT8OID, TEXTOID};
        record_plan = prepare_kept_plan(
            "INSERT INTO billing.alerts AS a"
            "       (tenant_id, resource, threshold, period_start, used, hard_limit)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
            " RETURNING pg_catalog.json_build_object("
            "   'tenant_id', a.tenant_id, 'resource', a.resource, 'threshold', a.threshold,"
            "   'used', a.used, 'limit', a.hard_limit, 'period_start', $7)"
            "   ::pg_catalog.text",
            7, types, "the alert statement");
    }
    Datum args[7] = {CStringGetTextDatum(key.tenant_id),
                     CStringGetTextDatum(key.resource),
                     Int32GetDatum(threshold),
                     TimestampTzGetDatum(period_start),
                     Int64GetDatum(used),
                     Int64GetDatum(limit),
                     CStringGetTextDatum(period_start_in_utc(period_start))};
    // fire_triggers: triggers an administrator put on billing.alerts run
    // at the end of the INSERT, as for any statement.
    int rc = SPI_execute_snapshot(record_plan, args, nullptr, GetLatestSnapshot(), InvalidSnapshot,
                                  false, true, 1);
    if (rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "zechat_billing: recording a usage alert failed: %s",
             SPI_result_code_string(rc));
    // Listeners hear of the alert when this transaction commits.
    if (SPI_processed == 1 && notify)
        Async_Notify("billing_alerts",
                     SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
    disconnect_spi(&saved);
}

} // namespace zechat::billing::pg
