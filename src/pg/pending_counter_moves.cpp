#include "pending_counter_moves.hpp"
#include "pending_usage_entry.hpp"

#include "admission.hpp"
#include "counter_shmem.hpp"
#include "late_closed_usage.hpp"

extern "C" {
#include "access/xact.h"
}

namespace zechat::billing::pg {

void note_admission_epoch(PendingUsage* entry, uint32 epoch)
{
    entry->move_epoch_admitted = epoch;
}

void confirm_admission_period(PendingUsage* entry)
{
    if (entry->counter != nullptr && entry->move_epoch_admitted != 0)
        entry->move_epoch_seen = entry->move_epoch_admitted;
}

bool first_change_of_key(const PendingUsage* entry)
{
    return !entry->corrected_first && entry->consumed == 0 && entry->released == 0 &&
           entry->move_epoch_seen == 0 && entry->move_epoch_admitted == 0;
}

void note_correction_epoch(PendingUsage* entry, uint32 epoch)
{
    entry->corrected_first = true;
    entry->move_epoch_seen = epoch;
}

bool others_in_flight_at_move(const QuotaKey& key, TimestampTz period_start)
{
    const PendingUsage* own = find_pending_usage(key, period_start);
    return own != nullptr && own->others_in_flight_at_move;
}

void move_counter_usage_out(PendingUsage* entry)
{
    if (entry->moved_out_subxact == InvalidSubTransactionId) {
        make_room_for_subxact_record();
        entry->moved_out_subxact = GetCurrentSubTransactionId();
        note_subxact_state(entry, entry->moved_out_subxact);
    }
    counter_move_out(entry->counter, quota_key_of(entry), entry->key.period_start, entry->passed);
    // The move has begun: a consumer from now on waits for it.  As this
    // move finds the counter: after an earlier move of it in this
    // transaction, what others have in flight went where that one carried
    // it (kept from that move, a change to 4-second periods and back to
    // 8-second in one transaction closed [A, A+4) at 0 for a transaction
    // carried to [A, A+8), and its COMMIT went there: 3 of 2; a helper's
    // attack on the first version of this).
    entry->others_in_flight_at_move = counter_pinned_by_others(entry->counter);
}

namespace {

// The counter's carry state, and this transaction's exclusion from it,
// before the current subtransaction first changed them: kept in its part
// (prepare_pending_change put it on top), for its rollback.
void save_carry_state(PendingUsage* entry, const CarryUndo& before, int64 excluded_before)
{
    SubxactPart* part = entry->parts;
    if (part->carry_saved)
        return;
    part->carry_saved = true;
    part->carry_before = before;
    part->carry_excluded_before = excluded_before;
}

} // namespace

void carry_counter_in_flight(PendingUsage* from, TimestampTz to)
{
    // Room first: once the counter is carried, its undo must be recorded.
    prepare_pending_change(from);
    CarryUndo before;
    counter_carry_in_flight(quota_key_of(from), from->counter, to, from->consumed, &before);
    save_carry_state(from, before, from->carry_excluded);
    from->carry_excluded = from->consumed;
}

void return_carried_to(const QuotaKey& key, TimestampTz to)
{
    // A counter placed for `to` from now on starts as it should: not moved
    // out.  Pinned while this transaction may still undo the return.  Where
    // it has no counter, a move of it this transaction recorded may mark
    // one placed while it runs: noted, for that mark to go at its end.
    if (!counter_moved_out(key, to)) {
        counter_note_move_returned(key, to);
        return;
    }
    PendingUsage* entry = track_counter_usage(key, to);
    prepare_pending_change(entry);
    CarryUndo before;
    counter_return_carried(entry->counter, &before);
    save_carry_state(entry, before, entry->carry_excluded);
    entry->carry_excluded = 0; // as the counter's: nothing left out there now
}

void restore_carry_state(PendingUsage* entry, const SubxactPart* part)
{
    if (!part->carry_saved)
        return;
    counter_undo_carry(entry->counter, part->carry_before);
    entry->carry_excluded = part->carry_excluded_before;
}

void undo_carry(PendingUsage* entry)
{
    // As before the outermost change: parts of later subtransactions saved
    // states that one produced.
    const SubxactPart* first = nullptr;
    for (const SubxactPart* part = entry->parts; part != nullptr; part = part->outer)
        if (part->carry_saved)
            first = part;
    if (first != nullptr)
        restore_carry_state(entry, first);
}

namespace {

// The entry's change left its counter for good (to a closed period, or to
// another key): its reservation goes back, and nothing is written for it.
// Not passed, so nothing was written yet.
void drop_moved_change(PendingUsage* entry)
{
    counter_drop_part(entry->counter, entry->consumed, entry->released, 0, entry->drawn);
    entry->consumed = 0;
    entry->released = 0;
    entry->drawn = 0;
    drop_parts_keeping_carry(entry);
    entry->alert_terms_known = false;
}

// The key's counter was marked by a schedule change since this transaction
// last looked (see counter_shmem.hpp): waits for the mover, as lock mode
// waits for the row the mover's carry locked, and reads the tenant's terms
// again.  If the mover closed the key's period (a past one), this
// transaction's change goes with it (late_closed_usage.hpp); if it moved
// the period, the change goes to the period that counts now
// (carry_change_to_period); if neither, the period stands for the mover's
// epoch.  A mover that is this transaction moved its own change along
// already.
void check_period_again(PendingUsage* entry, const CounterMoves& moves)
{
    if (!counter_moved_by_me(moves)) {
        (void)counter_wait_for_mover(entry->counter, moves);
        (void)tenant_terms_may_have_changed(); // takes the mover's invalidations
        QuotaKey key = quota_key_of(entry);
        int64 net = entry->consumed - entry->released;
        // Looked for first: the new schedule may start a period where the
        // closed one started (monthly to yearly), which the check below
        // takes for the period standing.  A change without a consumption
        // (a correction) knows only its period's start: the closed period
        // starting there (lock mode's close waits for its row and takes it
        // along; until 2026-12-08 it went to the tenant's current period).
        TimestampTz closed_end =
            entry->usage_period_end != 0 ? entry->usage_period_end : entry->key.period_start;
        if (add_to_closed_period(key, entry->key.period_start, closed_end, net)) {
            drop_moved_change(entry);
            return;
        }
        TenantTerms now;
        if (period_differs_now(key, entry->key.period_start, entry->usage_period_end, &now)) {
            // Taken to the new period first: until then the mover's carry
            // counts it there (counter_carry_in_flight), and should taking
            // it fail, the abort gives back the reservation here.
            carry_change_to_period(key, now, net);
            drop_moved_change(entry);
            return;
        }
    }
    entry->move_epoch_seen = moves.epoch;
}

} // namespace

// Shared-memory mode, before the changes not written yet are written: each
// of their keys passes its counter's move barrier, or has its period
// checked again (which may move the change to another key, tracked anew
// and checked in turn).
void pass_move_barriers()
{
    for (;;) {
        PendingUsage* stopped = nullptr;
        CounterMoves moves{0, InvalidFullTransactionId};
        for (int i = 0; i < touched_count && stopped == nullptr; ++i) {
            PendingUsage* entry = touched[i];
            if (entry->counter == nullptr || entry->passed || unwritten_change(entry) == 0)
                continue;
            bool passed = counter_pass(entry->counter, entry->move_epoch_seen, &moves);
            // Moved by this transaction itself: nobody to wait for, so no
            // pass to take back first; its move seen, the pass is tried
            // again (check_period_again does no more for it).  Taking back
            // every pass and walking again from the first key for each of
            // them would make the commit of a plan's interval edit
            // quadratic in its subscribers (`bench/interval_edit.sh`).
            if (!passed && counter_moved_by_me(moves)) {
                entry->move_epoch_seen = moves.epoch;
                passed = counter_pass(entry->counter, entry->move_epoch_seen, &moves);
            }
            if (passed)
                entry->passed = true;
            else
                stopped = entry;
        }
        if (stopped == nullptr)
            return;
        // A mover waits for every pass to settle: the passes of this walk,
        // not followed by a write yet, are taken back before this
        // transaction waits for a mover, so that no mover waits for it.
        for (int i = 0; i < touched_count; ++i) {
            PendingUsage* entry = touched[i];
            if (entry->passed && !entry->part_written) {
                counter_unpass(entry->counter);
                entry->passed = false;
            }
        }
        check_period_again(stopped, moves);
    }
}

// COMMIT, ABORT or PREPARE: every pinned counter gets this transaction's
// part (or nothing) and its pin back.  Never raises.
void settle_counters(bool commit)
{
    for (int i = 0; i < touched_count; ++i)
        if (PendingUsage* entry = touched[i]; entry->counter != nullptr) {
            if (!commit)
                undo_carry(entry);
            counter_settle_transaction(entry->counter, entry->consumed, entry->released, commit,
                                       entry->committing, entry->passed, entry->carry_excluded,
                                       entry->drawn);
        }
}

} // namespace zechat::billing::pg
