#include "usage_corrections.hpp"

#include "admission_internal.hpp"

#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "pending_changes.hpp"
#include "pending_counter_moves.hpp"
#include "pending_usage.hpp"
#include "refusal.hpp"
#include "usage_row_waits.hpp"
#include "usage_store.hpp"

namespace zechat::billing::pg {

namespace {

// Shared-memory mode: this transaction's view of the key's usage, as it
// stands, from the counter's committed usage: below 0 too, which a
// correction must bring back to 0.
int64 counter_usage_as_stored(PendingUsage* usage, int64 committed)
{
    return committed + pending_consumed(usage) - pending_released(usage);
}

// Shared-memory mode: the committed usage a correction naming its period
// (first_change_of_key) starts from, once no schedule change moving the
// counter's usage runs, and the counter's moves then.  Until 2026-12-08 it
// did not wait, and its COMMIT, finding the counter moved, took it to the
// period that counted then (isolation correction_across_move).
int64 committed_for_correction(PendingUsage* usage, CounterMoves* moves)
{
    CounterEntry* counter = pending_counter(usage);
    int64 committed;
    do
        committed = counter_committed(counter, moves);
    while (counter_wait_for_mover(counter, *moves));
    return committed;
}

// Shared-memory mode, after prepare_pending_change(): changes the key's
// counter by delta, not checked against the limit (counter_force), and
// records it as give_back_on_counter() does; raises 22003 when it would
// pass the bigint range.
void force_on_counter(const QuotaKey& key, PendingUsage* usage, int64 delta)
{
    int64 drawn = pending_drawn(usage);
    if (!counter_force(pending_counter(usage), delta, &drawn))
        report_past_bigint(key.resource, key.tenant_id);
    record_pending_change(usage, delta > 0 ? delta : 0, delta < 0 ? -delta : 0,
                          drawn - pending_drawn(usage));
}

// What a correction leaves out of the usage it corrects: the rows not
// confirmed yet, unless it changes this transaction's own consumption.
int64 left_out(const PendingUsage* usage, bool counting_unconfirmed)
{
    return counting_unconfirmed ? 0 : unconfirmed_amount(usage);
}

} // namespace

int64 counter_usage(PendingUsage* usage)
{
    int64 used = counter_usage_as_stored(usage, counter_committed(pending_counter(usage)));
    return used < 0 ? 0 : used;
}

void give_back_on_counter(PendingUsage* usage, int64 amount, bool of_stored_rows)
{
    int64 drawn = pending_drawn(usage);
    int64 given =
        counter_release(pending_counter(usage), amount, pending_consumed(usage),
                        unconfirmed_amount(usage), pending_released(usage), &drawn, of_stored_rows);
    record_pending_change(usage, 0, given, drawn - pending_drawn(usage));
}

int64 correct_usage(const QuotaKey& key, TimestampTz period_start, int64 value, bool set,
                    bool counting_unconfirmed)
{
    prevent_change_unless_writable("recount");
    (void)terms_for(key); // raises for an unknown resource
    if (counter_shmem_available()) {
        PendingUsage* usage = track_counter_usage(key, period_start);
        // A change of this transaction's own consumption goes where that
        // went; a correction of what rows hold names its period, unless the
        // transaction changed the key before (first_change_of_key).
        bool names_period = !counting_unconfirmed && first_change_of_key(usage);
        CounterMoves moves{0, InvalidFullTransactionId};
        int64 committed = names_period ? committed_for_correction(usage, &moves)
                                       : counter_committed(pending_counter(usage));
        // The usage as stored, not as reported (counter_usage): a counter
        // below 0 is corrected to the value too.
        int64 current =
            counter_usage_as_stored(usage, committed) - left_out(usage, counting_unconfirmed);
        if (names_period)
            note_correction_epoch(usage, moves.epoch);
        int64 delta = correction_delta(current, value, set);
        if (delta == 0)
            return 0;
        prepare_pending_change(usage);
        force_on_counter(key, usage, delta);
        return delta;
    }
    // recount() and the enforcement changes hold tables a writer of the key
    // may wait for (usage_row_waits.hpp).
    if (usage_row_waits_refused() && find_pending_usage(key, period_start) == nullptr)
        lock_usage_row_without_waiting(key, period_start);
    PendingUsage* usage = locked_usage(key, period_start);
    int64 current =
        usage != nullptr ? pending_current_usage(usage) - left_out(usage, counting_unconfirmed) : 0;
    int64 delta = correction_delta(current, value, set);
    if (delta == 0)
        return 0;
    if (usage != nullptr) {
        add_pending_usage(usage, delta);
        return delta;
    }
    // No usage yet, and delta > 0: the row is created, and locked, at once
    // (the usage before this transaction was 0).
    int64 new_used;
    if (!add_usage_within(key, period_start, delta, PG_INT64_MAX, &new_used))
        elog(ERROR, "zechat_billing: could not create the usage row of tenant %s, resource %s",
             key.tenant_id, key.resource);
    track_pending_usage(key, period_start, new_used, delta);
    return delta;
}

void adjust_usage(const QuotaKey& key, TimestampTz period_start, int64 value, bool set)
{
    // A correction is no consumption: a crossing this transaction's
    // consumption makes at commit starts above it (pending_alerts.hpp).
    int64 delta = correct_usage(key, period_start, value, set, false);
    if (delta != 0)
        if (PendingUsage* entry = find_pending_usage(key, period_start))
            note_correction(entry, delta);
}

void carry_change_to_period(const QuotaKey& key, const TenantTerms& now, int64 net)
{
    PendingUsage* usage = track_counter_usage(key, now.usage_period_start);
    prepare_pending_change(usage);
    if (net > 0) {
        force_on_counter(key, usage, net);
        note_consumption_terms(usage, now); // alerts count it in the new period
        return;
    }
    give_back_on_counter(usage, -net, false);
}

} // namespace zechat::billing::pg
