// Moving or closing a key's usage in a period, for a change of billing
// schedule.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// Moves all of the key's usage in period `from` to period `to`, as
// corrections (not checked against the limit), and returns how much: the
// usage read under the key's lock (lock mode) or from its counter
// (shared-memory mode), so it holds every commit before the move and what
// this transaction itself consumed.  For a change of billing schedule.
//
// `to` may be `from` (the new schedule starts its period where the old one
// did and ends it sooner: 10-second periods made 7-second, same anchor):
// nothing moves, the usage found is returned, and the key is claimed as by
// a move, so that a consumer under the old schedule waits for the change
// and decides again under the new one.  Where it ends no sooner
// (counted_until infinity) the key is not claimed, and only a mark an
// earlier claim left on its counter goes (0 returned).  Until 2026-12-07 nothing claimed
// it, and a consumer after the new period's end (7 s) and before the
// change's commit counted in that ended period: 10 of 5 in [7 s, 14 s),
// both modes.
//
// `counted_until` is the end of the new schedule's period at the change's
// now() when it ends before the old one's (else infinity): a key claimed
// after that, with usage or (shared-memory mode) consumption of others in
// flight, is refused (refuse_usage_past_new_period), as what was counted
// since belongs to a later period than the one it went to.
int64 move_usage(const QuotaKey& key, TimestampTz from, TimestampTz to, TimestampTz counted_until);

// The same, but the usage taken out of `from` goes nowhere: the caller keeps
// it (in billing.closed_periods, a past period of the schedule being left).
// Transactions in flight on `from` are treated as by a move to `to`, the
// period the tenant is in under its new schedule: lock mode waits for them,
// shared-memory mode has them commit into the period that counts then, not
// into the closed period's usage, which usage_history would show twice
// (isolation closing_in_flight).
int64 close_usage(const QuotaKey& key, TimestampTz from, TimestampTz to);

} // namespace zechat::billing::pg
