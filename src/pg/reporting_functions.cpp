// SQL entry points behind tenant_usage and usage_overview: the percent and
// status rules of the core, tenant id validation, and this transaction's
// not yet written usage.
#include "admission.hpp"
#include "pending_usage.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
}

using namespace zechat::billing::pg;
// PostgreSQL has a plan node called Limit too.
using QuotaLimit = zechat::billing::Limit;
using zechat::billing::format_percent;
using zechat::billing::usage_status;
using zechat::billing::usage_status_name;

namespace {

QuotaLimit limit_argument(FunctionCallInfo fcinfo, int n)
{
    return PG_ARGISNULL(n) ? QuotaLimit::none() : QuotaLimit::of(PG_GETARG_INT64(n));
}

// billing.usage_percent(used, hard_limit): numeric with 2 decimals.
Datum usage_percent_body(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        PG_RETURN_NULL();
    QuotaLimit limit = limit_argument(fcinfo, 1);
    if (limit.value < 0 || PG_GETARG_INT64(0) < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("used and hard_limit must not be negative")));
    char text[zechat::billing::percent_text_size];
    format_percent(PG_GETARG_INT64(0), limit, text);
    PG_RETURN_DATUM(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
                                        ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

// billing.usage_status(used, hard_limit): unlimited/ok/warning/critical/blocked.
Datum usage_status_body(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();
    QuotaLimit limit = limit_argument(fcinfo, 1);
    PG_RETURN_TEXT_P(cstring_to_text(usage_status_name(usage_status(PG_GETARG_INT64(0), limit))));
}

// billing._valid_tenant_id(tenant_id): the tenant id, or 22004 / 22023.
Datum valid_tenant_id_body(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR,
                (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tenant_id must not be null")));
    (void)make_quota_key(text_to_cstring(PG_GETARG_TEXT_PP(0)), "messages");
    PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

struct PendingRows {
    ReturnSetInfo* rsinfo;
};

void emit_pending_row(const char* resource, TimestampTz period_start, int64 delta, void* arg)
{
    auto* rows = static_cast<PendingRows*>(arg);
    Datum values[3] = {CStringGetTextDatum(resource), TimestampTzGetDatum(period_start),
                       Int64GetDatum(delta)};
    bool nulls[3] = {false, false, false};
    tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc, values, nulls);
}

// billing._pending_usage(tenant_id): (resource, period_start, delta) this
// transaction has admitted for the tenant and will write at commit, so that
// tenant_usage shows a transaction its own consumption.
Datum pending_usage_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (PG_ARGISNULL(0))
        return (Datum)0;
    PendingRows rows{reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo)};
    for_each_pending_of_tenant(text_to_cstring(PG_GETARG_TEXT_PP(0)), emit_pending_row, &rows);
    return (Datum)0;
}

void emit_own_pending_row(const char* tenant_id, const char* resource, TimestampTz period_start,
                          int64 delta, void* arg)
{
    auto* rows = static_cast<PendingRows*>(arg);
    Datum values[4] = {CStringGetTextDatum(tenant_id), CStringGetTextDatum(resource),
                       TimestampTzGetDatum(period_start), Int64GetDatum(delta)};
    bool nulls[4] = {false, false, false, false};
    tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc, values, nulls);
}

// billing._own_pending_usage(): the same for every tenant, with its id:
// what recount() compares with the rows includes it.
Datum own_pending_usage_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    PendingRows rows{reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo)};
    for_each_pending(emit_own_pending_row, &rows);
    return (Datum)0;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_usage_percent, usage_percent_body)
ZB_GUARDED_ENTRY(zb_usage_status, usage_status_body)
ZB_GUARDED_ENTRY(zb_valid_tenant_id, valid_tenant_id_body)
ZB_GUARDED_ENTRY(zb_pending_usage, pending_usage_body)
ZB_GUARDED_ENTRY(zb_own_pending_usage, own_pending_usage_body)
}
