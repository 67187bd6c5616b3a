// Giving back gauge usage: release_quota, for the enforcement triggers and
// billing.release_quota(), and the lock order of a statement that gives back
// on one key and consumes on another.
#pragma once

#include "admission.hpp"

namespace zechat::billing::pg {

// Who gives usage back: the enforcement triggers, for rows they saw deleted
// or shrunk (paid for by committed transactions), or a caller of
// billing.release_quota().
enum class ReleaseOf { stored_rows, caller };

// Gives back gauge usage, never below 0; raises 22023 for a period resource.
QuotaRemaining release_quota(const QuotaKey& key, int64 amount, ReleaseOf of);

// Lock mode: takes the lock of a gauge key a statement is about to give
// back on, before it consumes on another key whose tenant id sorts after
// it, so that two transactions moving rows between the same two tenants in
// opposite directions lock in one order and do not deadlock.  Changes
// nothing; in shared-memory mode, which locks no key, nothing at all.
void lock_gauge_key_before(const QuotaKey& key);

// current_remaining() of a gauge key, for release_quota with enforcement
// off, which still refuses a period resource (22023): a release of one is
// bad input, not enforcement.
QuotaRemaining current_remaining_of_gauge(const QuotaKey& key);

} // namespace zechat::billing::pg
