#include <cstring>

#include "admission.hpp"

#include "admission_internal.hpp"

#include "billing_catalog.hpp"
#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "late_closed_usage.hpp"
#include "pending_usage.hpp"
#include "refusal.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// Current usage of the key without taking its lock: committed usage plus
// what this transaction has admitted.  A period resource of a tenant
// without a subscription has no usage row (0; it cannot consume anyway).
int64 usage_without_lock(const QuotaKey& key, const TenantTerms& terms)
{
    if (!terms.has_usage_period)
        return 0;
    PendingUsage* entry = find_pending_usage(key, terms.usage_period_start);
    if (entry != nullptr && !counter_shmem_available())
        return pending_current_usage(entry); // lock mode: locked base + changes
    // The table holds what a round of the commit wrote already (a trigger on
    // billing.alerts asking).
    int64 used = read_usage(key, terms.usage_period_start);
    if (entry != nullptr)
        used += unwritten_change(entry);
    return used;
}

// A consumption that was not admitted: false with OnRefusal::return_false
// when the limit is reached, and with OnRefusal::describe (described in
// `out`); PT402 otherwise; past the bigint range, 22003.  `used` is the
// usage the amount was compared with.
bool refuse(const QuotaKey& key, const TenantTerms& terms, AdmissionResult result, int64 used,
            int64 amount, OnRefusal on_refusal, QuotaRemaining* out)
{
    DescribedRefusal refusal{result != AdmissionResult::limit_reached, RefusalReason::limit_reached,
                             terms.limit, used, terms.subscription};
    if (on_refusal == OnRefusal::describe) {
        out->refusal = refusal;
        return false;
    }
    if (result == AdmissionResult::limit_reached && on_refusal == OnRefusal::return_false)
        return false;
    raise_refusal(key, amount, refusal);
}

enum class Consumed {
    admitted,
    admitted_from_nothing, // lock mode: the key's row was created, or found at 0
    admitted_before_move,  // shared-memory mode: a schedule change was moving the key
    refused,               // OnRefusal::return_false
    retry,                 // nothing done: read the terms again (a mover ended)
};

// Shared-memory mode: admission on the key's counter.  Admitted while a
// schedule change moves the period, the amount stays where it is until the
// change has ended, and consume_quota() then admits it again, in the
// period that counts after the change (`admitted_before_move`); refused then,
// `retry` (only if `may_retry`) once the mover ended: the new period
// may have room, and so may this one, where the mover's own changes in
// flight were counted against the refused consumption (its reservation, not
// what it gave back: a move and its reverse, or a rollback, leave less
// than the refusal saw, and lock mode waits for the mover, then admits;
// isolation schedule_change_in_flight).
Consumed consume_from_counter(const QuotaKey& key, const TenantTerms& terms, int64 amount,
                              OnRefusal on_refusal, bool may_retry, QuotaRemaining* out,
                              PendingUsage** tracked)
{
    PendingUsage* usage = track_counter_usage(key, terms.usage_period_start);
    prepare_pending_change(usage);
    CounterMoves moves;
    Admission admission = counter_reserve(pending_counter(usage), amount, terms.limit,
                                          pending_released(usage), &moves);
    // Past the barrier already (consuming at commit, from an alert's
    // trigger), it does not wait: a mover waits for this transaction and
    // counts what it adds.
    bool waits_for_mover = !pending_passed(usage);
    if (admission.result != AdmissionResult::admitted) {
        if (may_retry && waits_for_mover && counter_wait_for_mover(pending_counter(usage), moves)) {
            // Read again under the terms the mover left, and in the period
            // they count now (period_differs_now).
            (void)tenant_terms_may_have_changed();
            TenantTerms now;
            (void)period_differs_now(key, terms.usage_period_start, terms.period_end, &now);
            return Consumed::retry;
        }
        out->refused_at = admission.new_used;
        (void)refuse(key, terms, admission.result, admission.new_used, amount, on_refusal, out);
        return Consumed::refused;
    }
    record_pending_change(usage, amount, 0);
    note_consumption_terms(usage, terms);
    *out = remaining_after(admission.new_used, terms.limit);
    *tracked = usage;
    if (waits_for_mover) {
        // A schedule change moving the period: its carry may still bring
        // usage to this key (5 carried to the period that starts where a
        // closed one did, after 3 were admitted on the closed one's
        // counter, then holding nothing: 8 of 5 until 2026-12-07), so what
        // it admitted is admitted again once the change has ended.
        bool waited = counter_wait_for_mover(pending_counter(usage), moves);
        note_admission_epoch(usage, moves.epoch);
        if (waited)
            return Consumed::admitted_before_move;
    }
    return Consumed::admitted;
}

// The first admission of a key in this transaction: lock its usage row,
// check and write, in one statement.  True when admitted (and tracked, so
// later admissions of the transaction accumulate); false when it does not
// fit, leaving the caller to work out the refusal.
bool first_admission(const QuotaKey& key, const TenantTerms& terms, int64 amount,
                     QuotaRemaining* out, PendingUsage** tracked, bool* from_nothing)
{
    int64 ceiling = admission_ceiling(terms.limit);
    if (amount > ceiling)
        return false;
    lock_usage_key(key);
    int64 new_used;
    if (!add_usage_within(key, terms.usage_period_start, amount, ceiling, &new_used))
        return false;
    *tracked = track_pending_usage(key, terms.usage_period_start, new_used, amount);
    note_consumption_terms(*tracked, terms);
    *out = remaining_after(new_used, terms.limit);
    *from_nothing = new_used == amount;
    return true;
}

// Refuses (raises, or returns false, described in `out` with
// OnRefusal::describe) if the subscription does not allow consumption at
// all.
bool subscription_allows(const QuotaKey& key, const TenantTerms& terms, int64 amount,
                         OnRefusal on_refusal, QuotaRemaining* out)
{
    if (terms.subscription == SubscriptionState::active)
        return true;
    if (on_refusal == OnRefusal::return_false)
        return false;
    DescribedRefusal refusal{false,
                             terms.subscription == SubscriptionState::none
                                 ? RefusalReason::no_subscription
                                 : RefusalReason::subscription_inactive,
                             terms.limit, usage_without_lock(key, terms), terms.subscription};
    if (on_refusal == OnRefusal::describe) {
        out->refusal = refusal;
        return false;
    }
    raise_refusal(key, amount, refusal);
}

namespace {

struct OtherPeriodSearch {
    const char* resource;
    TimestampTz period_start;
    bool found;
};

void note_other_period(const char* resource, TimestampTz period_start, int64, void* arg)
{
    auto* search = static_cast<OtherPeriodSearch*>(arg);
    if (period_start != search->period_start && strcmp(resource, search->resource) == 0)
        search->found = true;
}

// Has this transaction a change of the key's tenant and resource in a
// period that starts elsewhere than period_start?
bool changed_in_another_period(const QuotaKey& key, TimestampTz period_start)
{
    OtherPeriodSearch search{key.resource, period_start, false};
    for_each_pending_of_tenant(key.tenant_id, note_other_period, &search);
    return search.found;
}

} // namespace

// Whether the period a period resource's consumption would count in is one
// no one counts in any more: it has ended by now (the transaction began in
// it), and the moment the tenant's periods are counted at lies
//  - in a period a schedule change closed since, whose usage went to
//    billing.closed_periods: counted in the schedule's period containing
//    that moment, the consumption would sell the closed period's limit a
//    second time, in both modes, whether that is the closed period itself
//    (a change back made it the tenant's again; isolation
//    closed_period_reopened) or another one of the new schedule
//    overlapping it, holding nothing (an anchor moved by less than a
//    period; until 2026-12-07, a helper's hunt: 3 closed and 3 more of 3);
//  - or before the subscription's anchor: a transaction begun before
//    subscribe() made the subscription (anchored, by default, at its
//    now()) counted in the period before the anchor, which no one else
//    counts in (3 there and 3 in the first period, of 3; until 2026-12-07,
//    a helper's hunt).  A future anchor's period before it counts until
//    the anchor, as it did;
//  - or in a period that starts where the one this transaction consumed in
//    before started, and ends sooner: a schedule change made since (10-second
//    periods made 3-second, a month made days) carried that period's usage to
//    its period at the change, and this shorter one holds nothing (until
//    2026-12-07, shared-memory mode, a helper's differential model: 9 there
//    and the period at the change's 10, of 10); or one that starts
//    elsewhere than a period this transaction changed the key's usage in:
//    the transaction began in that one, so a schedule change made since
//    gave it this period, which ended before the change and holds nothing
//    (2 there, and 9 where the change carried the 8 and another consumer
//    added 1, of 10: the same model);
//  - or, for a first consumption of the key, in a span of the tenant's time
//    whose usage a schedule change counted in a later period
//    (billing.carried_spans): the new schedule's period there ended before
//    the change and holds nothing (until 2026-12-07, both modes, a helper's
//    hunt: 5 there and the 5 carried, of 5).
// Such a consumption counts in the tenant's period at this moment instead.
// Looked up only once the period has ended, which only a transaction
// spanning its end sees; ended by the clock, not by the statement's start,
// which a long statement, or a procedure whose COMMIT began the
// transaction, began in the period.
bool counts_in_abandoned_period(const QuotaKey& key, const TenantTerms& terms)
{
    if (terms.kind != ResourceKind::period || !terms.has_usage_period ||
        terms.period_end > GetCurrentTimestamp())
        return false;
    if (terms.counted_before_anchor)
        return true;
    const PendingUsage* own = find_pending_usage(key, terms.usage_period_start);
    TimestampTz admitted_end = own != nullptr ? pending_admitted_period_end(own) : 0;
    if ((admitted_end != 0 && admitted_end != terms.period_end) ||
        changed_in_another_period(key, terms.usage_period_start))
        return true;
    return closed_period_contains(key, terms.counted_at);
}

// The terms a read of the key's usage goes by: those a consumption at this
// moment would count under, so that check_quota answers what
// try_consume_quota would do (until 2026-12-07 it read the abandoned
// period, holding nothing, and said yes to what consume_quota refused).
// Moves nothing: the transaction's periods are counted from now on only
// once one of its consumptions meets that.
TenantTerms terms_for_reading(const QuotaKey& key)
{
    TenantTerms terms = terms_for(key);
    return counts_in_abandoned_period(key, terms) ? terms_at_this_moment(key) : terms;
}

// Admission of `amount` under terms already read (and allowing consumption).
Consumed consume_under_terms(const QuotaKey& key, const TenantTerms& terms, int64 amount,
                             OnRefusal on_refusal, bool may_retry, QuotaRemaining* out,
                             PendingUsage** tracked)
{
    if (counter_shmem_available())
        return consume_from_counter(key, terms, amount, on_refusal, may_retry, out, tracked);

    PendingUsage* usage = find_pending_usage(key, terms.usage_period_start);
    bool from_nothing = false;
    if (usage == nullptr && first_admission(key, terms, amount, out, tracked, &from_nothing))
        return from_nothing ? Consumed::admitted_from_nothing : Consumed::admitted;
    if (usage == nullptr)
        usage = locked_usage(key, terms.usage_period_start); // it did not fit: find out why
    int64 used = usage != nullptr ? pending_current_usage(usage) : 0;
    Admission admission = admit(used, terms.limit, amount);
    if (admission.result != AdmissionResult::admitted) {
        if (may_retry && terms_changed_since(key, terms))
            return Consumed::retry; // nothing was consumed
        out->refused_at = used;
        (void)refuse(key, terms, admission.result, used, amount, on_refusal, out);
        return Consumed::refused;
    }
    // Only a key this transaction already tracks gets here admitted: the
    // first admission of a key is first_admission()'s.
    if (usage == nullptr)
        elog(ERROR, "zechat_billing: admission without a locked usage row");
    add_pending_usage(usage, amount);
    note_consumption_terms(usage, terms);
    *out = remaining_after(admission.new_used, terms.limit);
    *tracked = usage;
    return Consumed::admitted;
}

} // namespace

bool consume_quota(const QuotaKey& key, int64 amount, OnRefusal on_refusal, QuotaRemaining* out,
                   PendingUsage** tracked)
{
    prevent_change_unless_writable("consume_quota");
    PendingUsage* ignored;
    if (tracked == nullptr)
        tracked = &ignored;
    // Schedule changes coming one after another could move the period each
    // time; a few rounds are more than any real sequence of them.
    constexpr int max_rounds = 4;
    for (int round = 1;; ++round) {
        TenantTerms terms = terms_for(key);
        if (counts_in_abandoned_period(key, terms)) {
            // As after a move it saw: the tenant's periods from now on.
            count_periods_from_now(key);
            terms = terms_for(key);
        }
        if (!subscription_allows(key, terms, amount, on_refusal, out))
            return false;
        Consumed consumed =
            consume_under_terms(key, terms, amount, on_refusal, round < max_rounds, out, tracked);
        if (consumed == Consumed::refused)
            return false;
        if (consumed == Consumed::retry)
            continue; // nothing was consumed
        if (round >= max_rounds)
            return true;
        bool moved = counter_shmem_available()
                         ? period_moved_since(key, terms) ||
                               consumed == Consumed::admitted_before_move
                     : consumed == Consumed::admitted_from_nothing
                         ? terms_changed_in_storage(key, terms)
                         : terms_changed_since(key, terms);
        if (!moved) {
            confirm_admission_period(*tracked);
            return true;
        }
        // Given back where it was admitted and admitted again (against the
        // limit) in the period, and under the terms, that count now.
        // Shared-memory mode takes the reservation back at once: what is
        // still reserved on a moved counter counts in the new period too
        // (carry_counter_in_flight).
        if (counter_shmem_available())
            take_back_consumption(*tracked, GetCurrentSubTransactionId(), amount);
        else
            correct_usage(key, terms.usage_period_start, -amount, false, true);
    }
}

bool consume_quota_deferring_limit(const QuotaKey& key, int64 amount, PendingUsage** tracked,
                                   DeferredRefusal* deferred, DescribedRefusal* refused)
{
    QuotaRemaining outcome;
    deferred->deferred = false;
    if (consume_quota(key, amount, OnRefusal::describe, &outcome, tracked))
        return true;
    if (outcome.refusal.past_bigint || outcome.refusal.reason != RefusalReason::limit_reached) {
        *refused = outcome.refusal;
        return false;
    }
    TenantTerms terms = terms_for(key);
    // What the refusal compared with, not the usage read again here, which
    // in shared-memory mode leaves out what other transactions hold
    // reserved (isolation exact_refusal_detail).
    *deferred = DeferredRefusal{true, terms.limit, outcome.refused_at, terms.subscription};
    // Consumed without the limit, as a correction is (the key is locked, or
    // its counter pinned, by the refused attempt).
    correct_usage(key, terms.usage_period_start, amount, false, true);
    *tracked = find_pending_usage(key, terms.usage_period_start);
    return true;
}

bool try_consume_quota(const QuotaKey& key, int64 amount)
{
    QuotaRemaining outcome;
    if (consume_quota(key, amount, OnRefusal::return_false, &outcome))
        return true;
    if (counter_shmem_available()) {
        TenantTerms terms = terms_for(key);
        if (PendingUsage* entry = find_pending_usage(key, terms.usage_period_start))
            give_back_unused_pin(entry);
    }
    return false;
}

bool check_quota(const QuotaKey& key, int64 amount)
{
    Oid installation = billing_usage_relation();
    TenantTerms terms = terms_for_reading(key);
    if (terms.subscription != SubscriptionState::active)
        return false;
    int64 used = usage_without_lock(key, terms);
    refuse_other_installation(installation); // the read may have waited for a reinstall
    return admit(used, terms.limit, amount).result == AdmissionResult::admitted;
}

QuotaRemaining current_remaining(const QuotaKey& key)
{
    Oid installation = billing_usage_relation();
    TenantTerms terms = terms_for_reading(key);
    int64 used = usage_without_lock(key, terms);
    refuse_other_installation(installation);
    return remaining_after(used, terms.limit);
}

void raise_refusal(const QuotaKey& key, int64 amount, const DescribedRefusal& refusal)
{
    if (refusal.past_bigint)
        report_past_bigint(key.resource, key.tenant_id);
    report_refusal(key, refusal.limit, refusal.used, amount, refusal.reason, refusal.subscription);
}

QuotaRemaining remaining_after(int64 used, Limit limit)
{
    if (limit.unlimited)
        return QuotaRemaining{true, 0};
    return QuotaRemaining{false, remaining_under(used, limit)};
}

PendingUsage* locked_usage(const QuotaKey& key, TimestampTz period_start)
{
    if (PendingUsage* entry = find_pending_usage(key, period_start))
        return entry;
    lock_usage_key(key);
    int64 committed;
    if (!lock_usage_row(key, period_start, &committed))
        return nullptr;
    return track_pending_usage(key, period_start, committed);
}

void prevent_change_unless_writable(const char* name)
{
    PreventCommandIfReadOnly(name);
    PreventCommandIfParallelMode(name);
}

} // namespace zechat::billing::pg
