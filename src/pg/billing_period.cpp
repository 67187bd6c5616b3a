#include <cmath>

#include "billing_period.hpp"

#include "billing_catalog.hpp"

extern "C" {
#include "access/htup_details.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// Average lengths, used only to guess k; the exact bounds are then found with
// real interval arithmetic.
constexpr double usecs_per_month = 30.436875 * USECS_PER_DAY;

double approximate_length_usecs(const Interval* step)
{
    return step->month * usecs_per_month + step->day * static_cast<double>(USECS_PER_DAY) +
           static_cast<double>(step->time);
}

// k * step into *scaled; false when it does not fit an interval.
bool scale_step(const Interval* step, int64 k, Interval* scaled)
{
    int64 months, days;
    if (__builtin_mul_overflow(static_cast<int64>(step->month), k, &months) ||
        months != static_cast<int32>(months) ||
        __builtin_mul_overflow(static_cast<int64>(step->day), k, &days) ||
        days != static_cast<int32>(days) || __builtin_mul_overflow(step->time, k, &scaled->time))
        return false;
    scaled->month = static_cast<int32>(months);
    scaled->day = static_cast<int32>(days);
    return true;
}

// anchor + k * step, with PostgreSQL's interval arithmetic done in UTC
// (timestamp, not timestamptz, arithmetic on the same instant): a session's
// TimeZone would otherwise move month and day boundaries across daylight
// saving changes, and two sessions in different zones would disagree on
// which period, and so which usage, a consumption belongs to.  Or, for a
// database still at 1.0, in the session's TimeZone as 1.0 did.
TimestampTz anchor_plus_steps(TimestampTz anchor, const Interval* step, int64 k,
                              PeriodCalendar calendar)
{
    Interval scaled;
    if (!scale_step(step, k, &scaled))
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                        errmsg("billing period out of range")));
    PGFunction add =
        calendar == PeriodCalendar::utc ? timestamp_pl_interval : timestamptz_pl_interval;
    return DatumGetTimestamp(
        DirectFunctionCall2(add, TimestampGetDatum(anchor), IntervalPGetDatum(&scaled)));
}

} // namespace

// The longest billing interval: a period's end is at most one interval
// after now, and must stay a timestamp (PostgreSQL's end at 294276 AD).
// Longer ones are refused: otherwise every consumption of their
// subscribers, and every reader of usage_overview, would fail with 22008.
constexpr double max_billing_interval_usecs = 10000 * 12 * usecs_per_month;

bool valid_billing_interval(const Interval* step)
{
    double length = approximate_length_usecs(step);
    return step->month >= 0 && step->day >= 0 && step->time >= 0 && length > 0 &&
           length <= max_billing_interval_usecs;
}

namespace {

// The earliest year a timestamp has (4714 BC, astronomically -4713).
constexpr int earliest_year = -4713;

// ts + span, each of its parts <= 0, as timestamp + interval computes it
// (months on the calendar, the day of month kept or clamped to the month's
// last; then days through the Julian day; then time), into *result, or false
// when that falls before the earliest timestamp, where PostgreSQL's own
// operator raises.
bool steps_back_checked(Timestamp ts, const Interval& span, Timestamp* result)
{
    struct pg_tm tm;
    fsec_t fsec;
    int64 months = span.month;
    int64 days = span.day;
    if (months != 0) {
        if (timestamp2tm(ts, nullptr, &tm, &fsec, nullptr, nullptr) != 0)
            return false;
        // Months counted from year 0, month 0, to keep the division simple.
        int64 month_index =
            static_cast<int64>(tm.tm_year) * MONTHS_PER_YEAR + (tm.tm_mon - 1) + months;
        int64 year = month_index >= 0 ? month_index / MONTHS_PER_YEAR
                                      : -((-month_index + MONTHS_PER_YEAR - 1) / MONTHS_PER_YEAR);
        if (year < earliest_year)
            return false;
        tm.tm_year = static_cast<int>(year);
        tm.tm_mon = static_cast<int>(month_index - year * MONTHS_PER_YEAR) + 1;
        int last_day = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
        if (tm.tm_mday > last_day)
            tm.tm_mday = last_day;
        if (tm2timestamp(&tm, fsec, nullptr, &ts) != 0)
            return false;
    }
    if (days != 0) {
        if (timestamp2tm(ts, nullptr, &tm, &fsec, nullptr, nullptr) != 0)
            return false;
        int64 julian = static_cast<int64>(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday)) + days;
        if (julian < 0)
            return false;
        j2date(static_cast<int>(julian), &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
        if (tm2timestamp(&tm, fsec, nullptr, &ts) != 0)
            return false;
    }
    if (__builtin_add_overflow(ts, span.time, &ts) || !IS_VALID_TIMESTAMP(ts))
        return false;
    *result = ts;
    return true;
}

// anchor + k * step into *result, or false when that is earlier than the
// earliest timestamp (PostgreSQL's 4714-11-24 BC).  Only a step back from an
// anchor later than the time looked for gets there: a period that contains a
// timestamp ends at most one step after it, well before the last one
// (294276 AD), but with a step of more than about 6700 years the period
// before a future anchor starts earlier than the first (raised there, such a
// subscriber's every consumption, and every reader of usage_overview, would
// fail with 22008).  Steps back are done by steps_back_checked, which
// computes what PostgreSQL's operator does without raising (guessing the
// side from average lengths and a step forward from that timestamp would
// not do: that is not the inverse of a step back, and some intervals near
// the bound would still raise 22008).
// In the session's time zone (1.0's calendar) a step back raises there, as
// it did in 1.0.
bool anchor_plus_steps_in_range(TimestampTz anchor, const Interval* step, int64 k,
                                PeriodCalendar calendar, TimestampTz* result)
{
    if (k >= 0 || calendar == PeriodCalendar::session_time_zone) {
        *result = anchor_plus_steps(anchor, step, k, calendar);
        return true;
    }
    Interval scaled;
    if (!scale_step(step, k, &scaled))
        return false; // millions of years back
    return steps_back_checked(anchor, scaled, result);
}

// The period of a step with no month or day part, which needs no
// calendar: anchor + k * step is plain arithmetic, done in 128 bits, as k
// may not fit in 64 (a step of a microsecond, and anchor and `at` hundreds
// of thousands of years apart).  The same bounds as the walk below would
// give (timestamp + interval adds the time part as it is), in one step.
BillingPeriod fixed_length_period_containing(TimestampTz anchor, int64 step, TimestampTz at)
{
    __int128 offset = static_cast<__int128>(at) - anchor;
    __int128 k = offset / step;
    if (offset % step < 0)
        --k; // rounded toward zero: the period starts before `at`
    __int128 start = anchor + k * step;
    __int128 end = start + step;
    if (end > END_TIMESTAMP - 1)
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                        errmsg("billing period out of range")));
    return BillingPeriod{start < MIN_TIMESTAMP ? MIN_TIMESTAMP : static_cast<TimestampTz>(start),
                         static_cast<TimestampTz>(end)};
}

} // namespace

PeriodCalendar this_database_calendar()
{
    return billing_objects_are_1_0() ? PeriodCalendar::session_time_zone : PeriodCalendar::utc;
}

BillingPeriod billing_period_containing(TimestampTz anchor, const Interval* step, TimestampTz at,
                                        PeriodCalendar calendar)
{
    if (!valid_billing_interval(step))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("billing interval must be positive and at most 10000 years")));
    const double length = approximate_length_usecs(step);
    if (TIMESTAMP_NOT_FINITE(anchor) || TIMESTAMP_NOT_FINITE(at))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("billing period anchor and time must be finite")));

    if (step->month == 0 && step->day == 0)
        return fixed_length_period_containing(anchor, step->time, at);

    // A step of a day or more: the guess is off by at most a step or two
    // (months of 28..31 days); walk to the exact k.  Each step is a real
    // interval addition.  A bound before the earliest timestamp is before
    // `at` too.  The difference is taken in double: anchor and `at` may be
    // further apart than an int64 holds (in an int64 it would wrap, and the
    // walk would go on one step at a time for minutes, or raise 22008).
    double guess = std::floor((static_cast<double>(at) - static_cast<double>(anchor)) / length);
    int64 k = static_cast<int64>(guess);
    TimestampTz start = 0;
    bool start_in_range = anchor_plus_steps_in_range(anchor, step, k, calendar, &start);
    while (start_in_range && start > at) {
        CHECK_FOR_INTERRUPTS();
        --k;
        start_in_range = anchor_plus_steps_in_range(anchor, step, k, calendar, &start);
    }
    TimestampTz end = 0;
    bool end_in_range = anchor_plus_steps_in_range(anchor, step, k + 1, calendar, &end);
    while (!end_in_range || end <= at) {
        CHECK_FOR_INTERRUPTS();
        ++k;
        start_in_range = end_in_range;
        start = end;
        end_in_range = anchor_plus_steps_in_range(anchor, step, k + 1, calendar, &end);
    }
    // The period before the anchor, when it would start before the earliest
    // timestamp, starts there: the same bounds for every time it contains,
    // so its usage keeps one key.
    if (!start_in_range)
        start = MIN_TIMESTAMP;
    return BillingPeriod{start, end};
}

} // namespace zechat::billing::pg

using zechat::billing::pg::billing_period_containing;
using zechat::billing::pg::BillingPeriod;
using zechat::billing::pg::this_database_calendar;

namespace {

Datum period_bounds_body(FunctionCallInfo fcinfo)
{
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
        ereport(
            ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("function returning record called in context that cannot accept type record")));
    tupdesc = BlessTupleDesc(tupdesc);

    BillingPeriod period =
        billing_period_containing(PG_GETARG_TIMESTAMPTZ(0), PG_GETARG_INTERVAL_P(1),
                                  PG_GETARG_TIMESTAMPTZ(2), this_database_calendar());
    Datum values[2] = {TimestampTzGetDatum(period.start), TimestampTzGetDatum(period.end)};
    bool nulls[2] = {false, false};
    return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

// billing._valid_billing_interval(interval): the CHECK of plans'
// billing_interval, so that a plan no period can be computed for is refused
// when it is written, not at its subscribers' every consumption.
Datum valid_billing_interval_body(FunctionCallInfo fcinfo)
{
    PG_RETURN_BOOL(zechat::billing::pg::valid_billing_interval(PG_GETARG_INTERVAL_P(0)));
}

} // namespace

#include "pg_boundary.hpp"

extern "C" {
ZB_GUARDED_ENTRY(zb_period_bounds, period_bounds_body)
ZB_GUARDED_ENTRY(zb_valid_billing_interval, valid_billing_interval_body)
}
