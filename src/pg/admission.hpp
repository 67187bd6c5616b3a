// Admission: check the tenant's terms, then, in lock mode, serialise on the
// key's usage row, compare usage with the limit and record what was
// admitted; in shared-memory mode, reserve on the key's counter.
//
// Shared by the SQL functions (consume_quota & co.) and the enforcement
// triggers, so both refuse with the same PT402 for the same reasons.
#pragma once

#include "module_settings.hpp" // enforcement_enabled(), for the callers
#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// What remains under the limit after an operation.
struct QuotaRemaining {
    bool unlimited;
    int64 remaining;
    // Refused with OnRefusal::return_false: the usage the amount was
    // compared with (in shared-memory mode with what other transactions
    // hold reserved).
    int64 refused_at = 0;
};

enum class OnRefusal { raise_pt402, return_false };

// Validates and wraps a tenant id and resource name; raises 22023 when the
// tenant id is empty or longer than 63 bytes.  The strings must stay valid
// while the key is used.
QuotaKey make_quota_key(const char* tenant_id, const char* resource);

// Raises 22023 unless amount > 0.
void require_positive_amount(int64 amount);

struct PendingUsage;

// Consumes `amount` (> 0) or refuses.  Returns false only when refused with
// OnRefusal::return_false.  With `tracked`, sets it to the transaction's
// entry of the key the amount was recorded on (pending_usage.hpp).
bool consume_quota(const QuotaKey& key, int64 amount, OnRefusal on_refusal, QuotaRemaining* out,
                   PendingUsage** tracked = nullptr);

// A PT402 for the limit, held back by consume_quota_deferring_limit().
struct DeferredRefusal {
    bool deferred; // false: admitted within the limit
    Limit limit;
    int64 used; // the usage the amount was compared with
    SubscriptionState subscription;
};

// As consume_quota(..., OnRefusal::raise_pt402, ...), except that an amount
// the limit refuses is consumed all the same and the refusal handed back
// in `deferred`, for the caller to raise once it knows the consumption
// stands (insert_confirmation.hpp: the row was really written).  Refusals
// for the subscription are raised at once.
void consume_quota_deferring_limit(const QuotaKey& key, int64 amount, PendingUsage** tracked,
                                   DeferredRefusal* deferred);

// Who gives usage back: the enforcement triggers, for rows they saw deleted
// or shrunk (paid for by committed transactions), or a caller of
// billing.release_quota().
enum class ReleaseOf { stored_rows, caller };

// Gives back gauge usage, never below 0; raises 22023 for a period resource.
QuotaRemaining release_quota(const QuotaKey& key, int64 amount, ReleaseOf of);

// A correction of the key's usage in a period, not checked against the
// limit: adds value (never taking usage below 0), or with `set` makes usage
// equal to value (>= 0).  For recount and enforce_quota.
void adjust_usage(const QuotaKey& key, TimestampTz period_start, int64 value, bool set);

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
// shared-memory mode has them commit into the period that counts then
// (until 2026-12-05 such a late commit landed in the closed period's usage,
// which usage_history then showed twice).
int64 close_usage(const QuotaKey& key, TimestampTz from, TimestampTz to);

// The tenant's terms now (*now); true when they count the key's usage in a
// period other than [period_start, period_end): a schedule change moved it.
// If that period is still running, this transaction counts periods from now
// on at this moment (count_periods_from_now).  Whoever waited for that
// change takes the invalidation messages first
// (tenant_terms_may_have_changed).
bool period_differs_now(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                        TenantTerms* now);

// Shared-memory mode, at commit: `net`, this transaction's change of the
// key in a period a schedule change then moved away from (and already given
// back there by the caller), goes to the period `now` says counts, as the
// move would have carried it had it committed first (lock mode's order):
// admitted before the change committed, it is not checked against the new
// limit again.
void carry_change_to_period(const QuotaKey& key, const TenantTerms& now, int64 net);

// Lock mode: takes the lock of a gauge key a statement is about to give
// back on, before it consumes on another key whose tenant id sorts after
// it, so that two transactions moving rows between the same two tenants in
// opposite directions lock in one order and do not deadlock.  Changes
// nothing; in shared-memory mode, which locks no key, nothing at all.
void lock_gauge_key_before(const QuotaKey& key);

// Would `amount` fit now?  Reads only.
bool check_quota(const QuotaKey& key, int64 amount);

// The remaining quota of the key without changing anything (used when
// enforcement is off).
QuotaRemaining current_remaining(const QuotaKey& key);

// The same for release_quota with enforcement off, which still refuses a
// period resource (22023): a release of one is bad input, not enforcement.
QuotaRemaining current_remaining_of_gauge(const QuotaKey& key);

} // namespace zechat::billing::pg
