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
int64 move_usage(const QuotaKey& key, TimestampTz from, TimestampTz to);

// The same, but the usage taken out of `from` goes nowhere: the caller keeps
// it (in billing.closed_periods, a past period of the schedule being left).
// Transactions in flight on `from` are treated as by a move to `to`, the
// period the tenant is in under its new schedule: lock mode waits for them,
// shared-memory mode has them commit into the period that counts then, not
// into the closed period's usage, which usage_history would show twice
// (isolation closing_in_flight).
int64 close_usage(const QuotaKey& key, TimestampTz from, TimestampTz to);

} // namespace zechat::billing::pg
