// Billing periods: [anchor + k * interval, anchor + (k + 1) * interval),
// computed with PostgreSQL's own timestamptz + interval arithmetic so that
// Jan 31 + 1 month is Feb 28/29, exactly as SQL would say.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "datatype/timestamp.h"
}

namespace zechat::billing::pg {

struct BillingPeriod {
    TimestampTz start;
    TimestampTz end;
};

// The calendar months and days are stepped in.  1.1 steps in UTC, the same
// for every session; 1.0 stepped in the session's TimeZone, and the library
// does so for a database whose extension is still 1.0 (until ALTER
// EXTENSION ... UPDATE moves its usage to UTC's periods), as that usage is
// keyed by 1.0's periods: stepped in UTC there, a tenant whose period
// starts differ would read it as 0 and could consume its limit again.
enum class PeriodCalendar { utc, session_time_zone };

// This database's calendar: the session's time zone while the extension's
// objects are 1.0's.  A catalog lookup: once per period computed.
PeriodCalendar this_database_calendar();

// Steps forward: not zero, and no month, day or time part negative (with
// mixed signs a step need not move on: March 31 + '-1 month 31 days').
bool valid_billing_interval(const Interval* step);

// The period that contains `at`.  Raises 22023 for an interval
// valid_billing_interval() refuses.
// A period that would start before the earliest timestamp (the one before a
// future anchor, with a step of thousands of years) starts there; one that
// would end after the last raises 22008 (only for `at` within one step of
// it).
// A time of day only (no month or day part) steps alike in both calendars.
BillingPeriod billing_period_containing(TimestampTz anchor, const Interval* step, TimestampTz at,
                                        PeriodCalendar calendar);

} // namespace zechat::billing::pg
