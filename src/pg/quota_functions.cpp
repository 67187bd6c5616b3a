// SQL entry points: consume_quota, try_consume_quota, release_quota and
// check_quota, each for text, uuid and bigint tenant keys; and the internal
// usage corrections of recount and enforce_quota.
#include "admission.hpp"
#include "enforced_values.hpp"
#include "pending_counter_moves.hpp"
#include "pg_boundary.hpp"
#include "usage_release.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// The declared type of argument `n` of the called function, cached in
// fn_extra.  The same C function backs the text, uuid and bigint overloads.
Oid tenant_argument_type(FunctionCallInfo fcinfo)
{
    if (fcinfo->flinfo->fn_extra == nullptr) {
        Oid type = get_fn_expr_argtype(fcinfo->flinfo, 0);
        if (!OidIsValid(type)) {
            HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
            if (!HeapTupleIsValid(proc))
                elog(ERROR, "zechat_billing: cache lookup failed for function %u",
                     fcinfo->flinfo->fn_oid);
            type = ((Form_pg_proc)GETSTRUCT(proc))->proargtypes.values[0];
            ReleaseSysCache(proc);
        }
        Oid* cached = static_cast<Oid*>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid)));
        *cached = type;
        fcinfo->flinfo->fn_extra = cached;
    }
    return *static_cast<Oid*>(fcinfo->flinfo->fn_extra);
}

// The three arguments every quota function takes; NULLs are 22004.
struct QuotaCall {
    QuotaKey key;
    int64 amount;
};

QuotaCall read_quota_call(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("tenant_id, resource and amount must not be null")));
    const char* tenant_id = tenant_id_text(PG_GETARG_DATUM(0), tenant_argument_type(fcinfo));
    const char* resource = text_to_cstring(PG_GETARG_TEXT_PP(1));
    QuotaCall call{make_quota_key(tenant_id, resource), PG_GETARG_INT64(2)};
    require_positive_amount(call.amount);
    return call;
}

Datum remaining_datum(FunctionCallInfo fcinfo, QuotaRemaining remaining)
{
    if (remaining.unlimited)
        PG_RETURN_NULL();
    PG_RETURN_INT64(remaining.remaining);
}

Datum consume_quota_body(FunctionCallInfo fcinfo)
{
    QuotaCall call = read_quota_call(fcinfo);
    if (!enforcement_enabled())
        return remaining_datum(fcinfo, current_remaining(call.key));
    QuotaRemaining remaining;
    consume_quota(call.key, call.amount, OnRefusal::raise_pt402, &remaining);
    return remaining_datum(fcinfo, remaining);
}

Datum try_consume_quota_body(FunctionCallInfo fcinfo)
{
    QuotaCall call = read_quota_call(fcinfo);
    if (!enforcement_enabled())
        PG_RETURN_BOOL(true);
    PG_RETURN_BOOL(try_consume_quota(call.key, call.amount));
}

Datum release_quota_body(FunctionCallInfo fcinfo)
{
    QuotaCall call = read_quota_call(fcinfo);
    if (!enforcement_enabled())
        return remaining_datum(fcinfo, current_remaining_of_gauge(call.key));
    return remaining_datum(fcinfo, release_quota(call.key, call.amount, ReleaseOf::caller));
}

Datum check_quota_body(FunctionCallInfo fcinfo)
{
    QuotaCall call = read_quota_call(fcinfo);
    if (!enforcement_enabled())
        PG_RETURN_BOOL(true);
    PG_RETURN_BOOL(check_quota(call.key, call.amount));
}

// billing._adjust_usage / billing._set_usage(tenant_id, resource,
// period_start, value).
Datum adjust_usage_call(FunctionCallInfo fcinfo, bool set)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
        ereport(ERROR,
                (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                 errmsg("tenant_id, resource, period_start and the amount must not be null")));
    QuotaKey key = make_quota_key(text_to_cstring(PG_GETARG_TEXT_PP(0)),
                                  text_to_cstring(PG_GETARG_TEXT_PP(1)));
    int64 value = PG_GETARG_INT64(3);
    if (set && value < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("usage cannot be negative, got " INT64_FORMAT, value)));
    adjust_usage(key, PG_GETARG_TIMESTAMPTZ(2), value, set);
    PG_RETURN_VOID();
}

Datum adjust_usage_body(FunctionCallInfo fcinfo)
{
    return adjust_usage_call(fcinfo, false);
}

Datum set_usage_body(FunctionCallInfo fcinfo)
{
    return adjust_usage_call(fcinfo, true);
}

// billing._move_usage(tenant_id, resource, from, to, counted_until), the
// usage moved (or kept, from = to), and
// billing._close_usage(tenant_id, resource, period_start, period_to), the
// usage taken out of a past period for billing.closed_periods.
Datum take_usage_out_call(FunctionCallInfo fcinfo, bool close)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("tenant_id, resource and both period starts must not be null")));
    QuotaKey key = make_quota_key(text_to_cstring(PG_GETARG_TEXT_PP(0)),
                                  text_to_cstring(PG_GETARG_TEXT_PP(1)));
    TimestampTz from = PG_GETARG_TIMESTAMPTZ(2);
    TimestampTz to = PG_GETARG_TIMESTAMPTZ(3);
    if (close)
        PG_RETURN_INT64(close_usage(key, from, to));
    if (PG_ARGISNULL(4))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("counted_until must not be null")));
    PG_RETURN_INT64(move_usage(key, from, to, PG_GETARG_TIMESTAMPTZ(4)));
}

Datum move_usage_body(FunctionCallInfo fcinfo)
{
    return take_usage_out_call(fcinfo, false);
}

Datum close_usage_body(FunctionCallInfo fcinfo)
{
    return take_usage_out_call(fcinfo, true);
}

// billing._usage_in_flight(tenant_id, resource, period_start): whether, in
// shared-memory mode, another transaction held consumption of the key in
// flight when this one closed it (others_in_flight_at_move).
Datum usage_in_flight_body(FunctionCallInfo fcinfo)
{
    QuotaKey key = make_quota_key(text_to_cstring(PG_GETARG_TEXT_PP(0)),
                                  text_to_cstring(PG_GETARG_TEXT_PP(1)));
    PG_RETURN_BOOL(others_in_flight_at_move(key, PG_GETARG_TIMESTAMPTZ(2)));
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_consume_quota, consume_quota_body)
ZB_GUARDED_ENTRY(zb_try_consume_quota, try_consume_quota_body)
ZB_GUARDED_ENTRY(zb_release_quota, release_quota_body)
ZB_GUARDED_ENTRY(zb_check_quota, check_quota_body)
ZB_GUARDED_ENTRY(zb_adjust_usage, adjust_usage_body)
ZB_GUARDED_ENTRY(zb_set_usage, set_usage_body)
ZB_GUARDED_ENTRY(zb_move_usage, move_usage_body)
ZB_GUARDED_ENTRY(zb_close_usage, close_usage_body)
ZB_GUARDED_ENTRY(zb_usage_in_flight, usage_in_flight_body)
}
