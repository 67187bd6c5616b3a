#include "usage_moves.hpp"

#include "admission_internal.hpp"

#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "late_schedule_changes.hpp"
#include "pending_usage.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "storage/lmgr.h"
}

namespace zechat::billing::pg {

namespace {

// Shared-memory mode: a key this transaction has not touched, with no
// usage committed and no counter (a transaction pins the counters it uses,
// so nothing is in flight on it), has nothing to move: no counter is placed
// for it, or a schedule change of a plan with thousands of subscribers
// would hold one per subscriber and resource until it commits (and could
// use up the counter table).  The check records the key's move instead
// (counter_present_else_note_move): a consumer that places the key's
// counter afterwards, under terms read before this change commits, finds
// it marked by this transaction and waits for it.
bool nothing_to_move(const QuotaKey& key, TimestampTz from)
{
    if (find_pending_usage(key, from) != nullptr)
        return false;
    lock_usage_parts_for_writing(); // before the read: usage_part_rows.hpp
    return !counter_present_else_note_move(key, from) && read_usage(key, from) == 0;
}

// Lock mode: the key's usage, its row locked; nullptr when there is no row.
// A transaction still writing the row is waited for first, even when the
// row shows no usage yet: one inserting it (its first admission of the
// key) would not be seen by the lock, and one that commits between a
// lookup finding no row and a check would not be seen by either, so the
// check comes first.  A row that exists is locked even when its usage is 0
// (a consumption taken back, a recount): a consumer would otherwise update
// it in the old period after the move without waiting.
PendingUsage* locked_usage_to_move(const QuotaKey& key, TimestampTz from)
{
    lock_usage_parts_for_writing(); // before the read: usage_part_rows.hpp
    for (;;) {
        TransactionId writing = writer_zero_row_in_flight(key, from);
        if (!TransactionIdIsValid(writing))
            return locked_usage(key, from);
        XactLockTableWait(writing, nullptr, nullptr, XLTW_None);
    }
}

// move_usage and close_usage: `deliver` adds what leaves `from` to `to`.
// A move to `from` itself keeps the usage where it is and returns it: the
// key is claimed all the same (see move_usage).  A past period closed where
// the new schedule starts its period (monthly to yearly: the year starts
// where its first month did) still closes.
int64 take_usage_out(const QuotaKey& key, TimestampTz from, TimestampTz to, bool deliver)
{
    (void)terms_for(key); // raises for an unknown resource
    bool keep = deliver && from == to;
    int64 moved;
    PendingUsage* moved_counter = nullptr; // shared-memory mode
    PendingUsage* moved_entry = nullptr;
    if (counter_shmem_available()) {
        // A move back to a period an earlier move left (a change and its
        // reverse), also with nothing to move, makes it count its own in
        // flight again: left moved out, it counted them in the tenant's
        // later periods too, and a change closing it took a transaction in
        // flight on it for one carried elsewhere (_close_past_periods did
        // not keep the period for its COMMIT, which went to the new period:
        // 8 of 5, a helper's attack).
        if (deliver && !keep)
            return_carried_to(key, to);
        if (nothing_to_move(key, from))
            return 0;
        // Read once the transactions about to commit a change on it have
        // done so; those that commit later move theirs (counter_shmem.hpp).
        moved_counter = track_counter_usage(key, from);
        move_counter_usage_out(moved_counter);
        moved = counter_usage(moved_counter);
        moved_entry = moved_counter;
    } else {
        // A key with no row at all is claimed (claim_absent_usage_row): a
        // first consumption under the old terms then waits for this change
        // as for a locked row.  Rows are not locks of the lock table, so a
        // plan edit over thousands of idle subscribers holds them all.
        PendingUsage* usage = nullptr;
        for (;;) {
            usage = locked_usage_to_move(key, from);
            if (usage != nullptr || claim_absent_usage_row(key, from))
                break;
        }
        moved = usage != nullptr ? pending_current_usage(usage) : 0;
        moved_entry = usage;
    }
    // Rows this transaction counted and has not confirmed yet: a move takes
    // them along, and they are taken back, if not written, where they went;
    // a close leaves them in their period, as if counted after it (each
    // counts them in one period only).
    if (!deliver && moved_entry != nullptr)
        moved -= unconfirmed_amount(moved_entry);
    if (moved > 0 && !keep) {
        AlertCarry alerts = alert_carry_of(moved_entry, moved);
        correct_usage(key, from, -moved, false, true);
        PendingUsage* moved_to = nullptr;
        if (deliver) {
            correct_usage(key, to, moved, false, true);
            moved_to = find_pending_usage(key, to);
        }
        // Also a close: what it takes out is no release either (a new
        // schedule whose period starts where this one did counts its
        // crossing from the usage carried there, not from this period's).
        carry_alerts(moved_entry, moved_to, alerts);
        if (moved_to != nullptr)
            retarget_unconfirmed(moved_entry, moved_to);
    }
    // Shared-memory mode: transactions admitted in `from` before the move
    // and still in flight commit their consumption into the period that
    // counts then (they wait for this one and take it there), so it counts
    // in the tenant's other periods from now on, as lock mode's consumers
    // in the new period wait for the move, which waits for them (else the
    // tenant could end over its limit by what was in flight;
    // tests/scripts/limit_across_moves.sh).
    // Also when nothing is in flight yet: a consumer taking its change there
    // from a period another move left meanwhile reserves on it later.  The
    // new period's counter is not placed for it (it joins when placed).
    // Also a kept period's, whose transactions in flight may commit into
    // the period after it; not a past period closed where the new schedule
    // starts its period: what is in flight there counts in that period
    // already, and lands in the closed one (_close_past_periods).
    bool closed_where_new_period_starts = !deliver && from == to;
    if (moved_counter != nullptr && !closed_where_new_period_starts)
        carry_counter_in_flight(moved_counter, to);
    return moved > 0 ? moved : 0;
}

} // namespace

int64 move_usage(const QuotaKey& key, TimestampTz from, TimestampTz to, TimestampTz counted_until)
{
    prevent_change_unless_writable("_move_usage");
    // The period runs on as the new schedule's, from the same start, ended
    // no sooner (10-second periods made 7-second and back): nothing to
    // claim, but a mark an earlier change left on its counter goes, as at a
    // move back (return_carried_to).  Left, what is in flight there counted
    // in the tenant's next period too, refused there while lock mode
    // admitted, and a later change closing the period took it for carried
    // usage, and its COMMIT for one of the new period (a helper's attack on
    // the first version of the claim, 2026-12-07).
    if (from == to && TIMESTAMP_IS_NOEND(counted_until)) {
        if (counter_shmem_available())
            return_carried_to(key, to);
        return 0;
    }
    int64 found = take_usage_out(key, from, to, true);
    // Claimed only now: what was counted in `from` from counted_until on
    // came after the new schedule's period at the change's now() ended, and
    // went with the rest into that ended period (or stayed in it).
    if (GetCurrentTimestamp() >= counted_until &&
        (found > 0 || others_in_flight_at_move(key, from)))
        refuse_usage_past_new_period(key.tenant_id, key.resource);
    return found;
}

int64 close_usage(const QuotaKey& key, TimestampTz from, TimestampTz to)
{
    prevent_change_unless_writable("_close_usage");
    return take_usage_out(key, from, to, false);
}

} // namespace zechat::billing::pg
