// Consumption in a period a schedule change closed: committed after the
// change (shared-memory mode), or begun after it (both modes).
//
// A schedule change closes the tenant's past periods: their usage goes to
// billing.closed_periods, under the bounds they had.  A transaction begun in
// such a period and still in flight then commits after the change (lock
// mode's change waits for it instead, on the period's row, and closes the
// period with its consumption).  Its consumption belongs to that period,
// not to the one the new schedule counts now: added there, it would count
// against a limit it was never admitted under, and the tenant could end
// over its limit by what was in flight (isolation
// closing_in_flight_at_limit).  A first consumption of a transaction begun
// in a period closed since (a change and its reverse leave that period one
// of the tenant's schedule again) counts in the tenant's period at that
// moment instead (admission.cpp).
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// Adds `delta` (never below 0 in total) to the key's closed period that
// started at `period_start` and ended at `period_end` (or, made longer
// since, the first to end after it), if a schedule change closed it;
// false, nothing written, if none did.  Read with the latest
// snapshot: the change has committed, whatever this transaction's snapshot
// (in REPEATABLE READ, a second such commit into the same closed period at
// the same moment fails with a serialization error, as any update of a row
// changed after its snapshot does).
bool add_to_closed_period(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                          int64 delta);

// Whether a schedule change closed a period of the key that contains `at`,
// or counted the span of the tenant's time holding it in a later period
// (billing.carried_spans; latest snapshot, as above): the period the
// tenant's periods are counted at may be another one now, of the schedule
// the change made.
bool closed_period_contains(const QuotaKey& key, TimestampTz at);

} // namespace zechat::billing::pg
