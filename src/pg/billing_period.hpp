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

// Steps forward: not zero, and no month, day or time part negative (with
// mixed signs a step need not move on: March 31 + '-1 month 31 days').
bool valid_billing_interval(const Interval* step);

// The period that contains `at`.  Raises 22023 for an interval
// valid_billing_interval() refuses.
// A period that would start before the earliest timestamp (the one before a
// future anchor, with a step of thousands of years) starts there; one that
// would end after the last raises 22008 (only for `at` within one step of
// it).
BillingPeriod billing_period_containing(TimestampTz anchor, const Interval* step, TimestampTz at);

} // namespace zechat::billing::pg
