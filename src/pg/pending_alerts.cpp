#include <algorithm>

#include "pending_alerts.hpp"
#include "pending_usage_entry.hpp"

#include "counter_shmem.hpp"
#include "pending_changes.hpp"
#include "usage_alerts.hpp"

namespace zechat::billing::pg {

namespace {

void note_alert_terms(PendingUsage* entry, const TenantTerms& terms)
{
    entry->alert_terms_known = true;
    entry->alert_limit = terms.limit;
    entry->alert_period_start = terms.billing_period_start;
    entry->alert_terms_generation = terms.generation;
}

} // namespace

void note_consumption_terms(PendingUsage* entry, const TenantTerms& terms)
{
    note_alert_terms(entry, terms);
    // The end of the period the entry's usage was first admitted in, kept
    // through later consumptions: after a schedule change that starts a
    // period where it started and ends it sooner, they read that shorter
    // period, and a commit looking for where the change took the rest
    // (check_period_again) must go by the period the change moved
    // (period_differs_now; see refresh_alert_terms below).
    if (entry->usage_period_end == 0)
        entry->usage_period_end = terms.period_end;
}

namespace {

// The key's change since its last crossing was taken (a round of the
// commit), or since the transaction began: shared-memory mode writes each
// round's change, lock mode moves usage_before up to it.  Lock mode writes
// a key's first admission at once (track_pending_usage), which is a change
// all the same.
int64 change_since_crossing(const PendingUsage* entry)
{
    return entry->counter != nullptr ? unwritten_change(entry)
                                     : pending_current_usage(entry) - entry->usage_before;
}

// This transaction's own consumption on the key: its change, less what
// moves carried in or out and what corrections changed.  Since the last
// round of the commit, if any: what earlier rounds wrote alerted already.
int64 own_consumption(const PendingUsage* entry)
{
    return change_since_crossing(entry) - entry->alert_carried - entry->alert_corrected_after;
}

} // namespace

AlertCarry alert_carry_of(const PendingUsage* from, int64 moved)
{
    // Without a consumption (no terms noted) the change is all carried.
    int64 own = from != nullptr && from->alert_terms_known ? own_consumption(from) : 0;
    return alert_carry_across_move(own, moved);
}

void note_correction(PendingUsage* entry, int64 delta)
{
    // Before any consumption of the transaction on the key, the crossing
    // starts above it (a recount, then a consumption from there); after
    // one, it ends below it (the consumption crossed from where it was,
    // and the correction set the rows' count after it).  Called once the
    // correction is made: its delta is in the change already.  Before, the
    // crossing starts at the usage the correction left, below which a
    // release made before it took the key too.
    int64 own_before = own_consumption(entry) - delta;
    if (own_before > 0)
        record_alert_carry(entry, 0, delta);
    else
        record_alert_carry(entry, delta + own_before, 0);
}

void carry_alerts(PendingUsage* from, PendingUsage* to, const AlertCarry& carry)
{
    if (from != nullptr && carry.carried != 0)
        record_alert_carry(from, -carry.carried);
    if (to == nullptr)
        return;
    if (carry.carried != 0)
        record_alert_carry(to, carry.carried);
    if (carry.consumed_here) {
        // The terms are read again at commit (refresh_alert_terms), under
        // which the new period must be the one that counts.
        to->alert_terms_known = true;
        to->alert_terms_generation = PG_UINT64_MAX;
    }
}

namespace {

// The usage the change not written yet takes the key from and to, for
// alerts; false when it consumes nothing on balance.  In shared-memory mode
// this places the transaction in the counter's commit order (see
// counter_begin_commit), which settle_counters() ends.  The next round of
// write_pending_usage starts where this one ends.
bool usage_range_of_commit(PendingUsage* entry, int64* before, int64* after)
{
    // Usage carried here by a move, or corrected, is no consumption: the
    // crossing starts above what came before the transaction's consumption
    // and ends below what came after (the first round only).
    int64 carried = entry->alert_carried;
    int64 corrected_after = entry->alert_corrected_after;
    entry->alert_carried = 0;
    entry->alert_corrected_after = 0;
    if (entry->counter != nullptr) {
        // A release is registered too: the next round's usage starts below
        // it.
        int64 net = unwritten_change(entry);
        if (net == 0 && carried == 0 && corrected_after == 0)
            return false;
        int64 start = counter_begin_commit(entry->counter, net);
        entry->committing += net;
        *before = start + carried;
        *after = start + net - corrected_after;
        return *after > *before;
    }
    *before = entry->usage_before + carried;
    *after = pending_current_usage(entry) - corrected_after;
    entry->usage_before = pending_current_usage(entry);
    return *after > *before;
}

} // namespace

// A configuration change since the terms of the key's last consumption were
// read (made later in this transaction, a plan change or an override, or
// committed by another) may have changed its limit: the usage that commits
// is measured against the terms it commits under (an upgrade in the same
// transaction alerts at 80 % of the new limit; regress `10_alerts`).
// A tenant no longer active, or a period resource whose period moved (the
// change carried the usage to the new one), alerts on nothing.  A resource
// deleted meanwhile fails the commit (22023, unknown resource), which keeps
// its usage from staying behind under the name.  Before the move barriers
// are passed: reading terms may wait for a lock, and a transaction that
// passed must wait for nothing (counter_shmem.hpp).
void refresh_alert_terms(PendingUsage* entry)
{
    if (!entry->alert_terms_known || entry->alert_terms_generation == tenant_terms_generation())
        return;
    TenantTerms terms = terms_for(quota_key_of(entry));
    bool same_period =
        terms.kind == ResourceKind::gauge || terms.usage_period_start == entry->key.period_start;
    if (terms.subscription != SubscriptionState::active || !same_period) {
        entry->alert_terms_known = false;
        return;
    }
    // The alert terms only: the end of the period the usage was admitted in
    // stays.  A new schedule can start a period where the admitted one
    // started and end it elsewhere (10-second periods made 7-second, monthly
    // made yearly, from the same anchor); the end is how a change that
    // closed the admitted period finds it (check_period_again).  Taken from
    // the new terms, it named no closed period, and shared-memory mode
    // committed a transaction in flight across such a change into the new
    // schedule's period instead (a helper's README audit of 2026-12-07:
    // the closed month 10 of 15, the year 5).
    note_alert_terms(entry, terms);
}

// The thresholds this transaction crosses on the key (bit i for
// alert_thresholds().percent[i]), and the usage it ends at.  The range is
// taken for every key, also one that alerts on nothing this round (usage a
// move carried there, a correction): a later round, a consumption by a
// trigger on billing.alerts, then crosses from where this one ended.
uint32 crossed_thresholds_of(PendingUsage* entry, int64* after)
{
    const AlertThresholds& thresholds = alert_thresholds();
    if (thresholds.count == 0)
        return 0;
    int64 before;
    if (!usage_range_of_commit(entry, &before, after) || !entry->alert_terms_known ||
        entry->alert_limit.unlimited)
        return 0;
    return crossed_thresholds(before, *after, entry->alert_limit, thresholds);
}

bool changed_since_crossing(const PendingUsage* entry)
{
    return change_since_crossing(entry) != 0;
}

void record_alerts(PendingUsage* entry, uint32 crossed, int64 used, bool notify)
{
    const AlertThresholds& thresholds = alert_thresholds();
    for (int i = 0; crossed != 0 && i < thresholds.count; ++i) {
        if ((crossed & (1u << i)) != 0)
            record_usage_alert(quota_key_of(entry), thresholds.percent[i],
                               entry->alert_period_start, used, entry->alert_limit.value, notify);
    }
}

} // namespace zechat::billing::pg
