// Admission: check the tenant's terms, then, in lock mode, serialise on the
// key's usage row, compare usage with the limit and record what was
// admitted; in shared-memory mode, reserve on the key's counter.
//
// Shared by the SQL functions (consume_quota & co.) and the enforcement
// triggers, so both refuse with the same PT402 for the same reasons.
#pragma once

#include "../core/refusal_detail.hpp"
#include "tenant_terms.hpp"

// The other parts of admission, for the callers that include this header
// (usage_release.hpp, which needs QuotaRemaining, is included by its
// callers), and the setting that turns enforcement off.
#include "module_settings.hpp"
#include "quota_input.hpp"
#include "terms_recheck.hpp"
#include "usage_corrections.hpp"
#include "usage_moves.hpp"

namespace zechat::billing::pg {

// A refusal as consume_quota() raises it: a PT402 for the limit or the
// subscription (report_refusal), or a 22003 past the bigint range
// (report_past_bigint).
struct DescribedRefusal {
    bool past_bigint;
    RefusalReason reason;
    Limit limit;
    int64 used; // the usage the amount was compared with
    SubscriptionState subscription;
};

// Raises the refusal of `amount` on `key` as described.
[[noreturn]] void raise_refusal(const QuotaKey& key, int64 amount, const DescribedRefusal& refusal);

// What remains under the limit after an operation.
struct QuotaRemaining {
    bool unlimited;
    int64 remaining;
    // Refused with OnRefusal::return_false: the usage the amount was
    // compared with (in shared-memory mode with what other transactions
    // hold reserved).
    int64 refused_at = 0;
    // Refused with OnRefusal::describe: what would have been raised.
    DescribedRefusal refusal = {};
};

// describe: every refusal (the subscription, the limit, past the bigint
// range) returns false, and is described in QuotaRemaining::refusal for
// the caller to raise (raise_refusal), at once or later
// (held_refusals.hpp).
enum class OnRefusal { raise_pt402, return_false, describe };

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

// As consume_quota(..., OnRefusal::describe, ...), except that an amount
// the limit refuses is consumed all the same and the refusal handed back
// in `deferred`, for the caller to raise once it knows the consumption
// stands (insert_confirmation.hpp: the row was really written).  Other
// refusals (the subscription, past the bigint range) consume nothing:
// false, with the refusal described in `refused`.
bool consume_quota_deferring_limit(const QuotaKey& key, int64 amount, PendingUsage** tracked,
                                   DeferredRefusal* deferred, DescribedRefusal* refused);

// try_consume_quota(): consume_quota(..., OnRefusal::return_false, ...),
// and a refusal that leaves the transaction holding nothing on the key
// gives its counter's pin back at once (shared-memory mode): otherwise one
// transaction refused on many keys held their counters from every database
// until it ended (a helper's review, 2026-12-06).
bool try_consume_quota(const QuotaKey& key, int64 amount);

// Would `amount` fit now?  Reads only.
bool check_quota(const QuotaKey& key, int64 amount);

// The remaining quota of the key without changing anything (used when
// enforcement is off).
QuotaRemaining current_remaining(const QuotaKey& key);

} // namespace zechat::billing::pg
