#include "pending_changes.hpp"
#include "pending_usage_entry.hpp"

#include "../core/net_change.hpp"
#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "refusal.hpp"

extern "C" {
#include "access/xact.h"
#include "common/int.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

void clear_part_changes(SubxactPart* part)
{
    part->consumed = 0;
    part->released = 0;
    part->drawn = 0;
    part->carried = 0;
    part->corrected_after = 0;
}

// An empty part of `subxact`, above `outer`, for the transaction's life.
SubxactPart* new_part(SubTransactionId subxact, SubxactPart* outer)
{
    auto* part =
        static_cast<SubxactPart*>(MemoryContextAlloc(TopTransactionContext, sizeof(SubxactPart)));
    part->subxact = subxact;
    clear_part_changes(part);
    part->carry_saved = false;
    part->outer = outer;
    return part;
}

// The part of `subxact` in the entry's stack (innermost on top, ids
// decreasing downwards), made in its place if the subtransaction has none.
SubxactPart* part_of_subxact(PendingUsage* entry, SubTransactionId subxact)
{
    SubxactPart** link = &entry->parts;
    while (*link != nullptr && (*link)->subxact > subxact)
        link = &(*link)->outer;
    if (*link != nullptr && (*link)->subxact == subxact)
        return *link;
    make_room_for_subxact_record();
    *link = new_part(subxact, *link);
    note_subxact_state(entry, subxact);
    return *link;
}

} // namespace

void prepare_pending_change(PendingUsage* entry)
{
    SubTransactionId current = GetCurrentSubTransactionId();
    if (entry->parts != nullptr && entry->parts->subxact == current)
        return;
    make_room_for_subxact_record();
    entry->parts = new_part(current, entry->parts);
    note_subxact_state(entry, current);
}

void drop_parts_keeping_carry(PendingUsage* entry)
{
    // The others stay in TopTransactionContext, which goes at the end.
    SubxactPart* saved = nullptr;
    for (SubxactPart* part = entry->parts; part != nullptr; part = part->outer)
        if (part->carry_saved)
            saved = part;
    if (saved != nullptr) {
        clear_part_changes(saved);
        saved->outer = nullptr;
    }
    entry->parts = saved;
}

void record_pending_change(PendingUsage* entry, int64 consumed, int64 released, int64 drawn_more)
{
    // prepare_pending_change() put the current subtransaction's part on top.
    // The draw first: the counter holds it already, and it must go back.
    entry->parts->drawn += drawn_more;
    entry->drawn += drawn_more;
    // A part's sums are at most the entry's, which shared-memory mode keeps
    // at most what the counter holds in flight (reserve() and force() keep
    // it within the bigint range); checked all the same, and nothing is
    // recorded when they do not fit.
    int64 consumed_sum, released_sum;
    if (pg_add_s64_overflow(entry->consumed, consumed, &consumed_sum) ||
        pg_add_s64_overflow(entry->released, released, &released_sum))
        report_past_bigint(entry->key.resource, entry->key.tenant_id);
    entry->parts->consumed += consumed;
    entry->parts->released += released;
    entry->consumed = consumed_sum;
    entry->released = released_sum;
}

void record_alert_carry(PendingUsage* entry, int64 carried, int64 corrected_after)
{
    prepare_pending_change(entry);
    entry->parts->carried += carried;
    entry->alert_carried += carried;
    entry->parts->corrected_after += corrected_after;
    entry->alert_corrected_after += corrected_after;
}

void add_pending_usage(PendingUsage* entry, int64 delta)
{
    prepare_pending_change(entry);
    // Lock mode: nets (core/net_change.hpp), which fit while usage does.
    int64 net, part_net;
    if (!add_to_net_change(entry->consumed, entry->released, delta, &net) ||
        !add_to_net_change(entry->parts->consumed, entry->parts->released, delta, &part_net))
        report_past_bigint(entry->key.resource, entry->key.tenant_id);
    set_net_change(&entry->consumed, &entry->released, net);
    set_net_change(&entry->parts->consumed, &entry->parts->released, part_net);
}

void take_back_consumption(PendingUsage* entry, SubTransactionId subxact, int64 amount)
{
    SubxactPart* part = part_of_subxact(entry, subxact);
    if (entry->counter != nullptr) {
        // The reservation goes as an aborted subtransaction's would.
        part->consumed -= amount;
        entry->consumed -= amount;
        counter_take_back_reservation(entry->counter, amount);
        return;
    }
    // Lock mode: the key's first admission is in base_used, already written
    // to its row; a release in the part takes any amount back at commit.
    set_net_change(&part->consumed, &part->released,
                   net_change(part->consumed, part->released) - amount);
    set_net_change(&entry->consumed, &entry->released,
                   net_change(entry->consumed, entry->released) - amount);
}

void take_back_subxact(PendingUsage* entry, SubTransactionId subxact)
{
    if (entry->moved_out_subxact == subxact)
        entry->moved_out_subxact = InvalidSubTransactionId;
    while (entry->parts != nullptr && entry->parts->subxact == subxact) {
        SubxactPart* part = entry->parts;
        restore_carry_state(entry, part);
        entry->alert_carried -= part->carried;
        entry->alert_corrected_after -= part->corrected_after;
        if (entry->counter != nullptr) {
            // What this transaction's carry left out as its own can be no
            // more than what it still holds reserved: left larger by a move
            // rolled back to a savepoint, others' reservations on the
            // counter would stop counting (regress `03_subscriptions`,
            // isolation `schedule_change_in_flight`).
            int64 still_consumed = entry->consumed - part->consumed;
            int64 excluded_less =
                entry->carry_excluded > still_consumed ? entry->carry_excluded - still_consumed : 0;
            counter_drop_part(entry->counter, part->consumed, part->released, excluded_less,
                              part->drawn);
            entry->carry_excluded -= excluded_less;
            entry->consumed -= part->consumed;
            entry->released -= part->released;
            entry->drawn -= part->drawn;
        } else {
            // Lock mode: the net left is that of the changes before this
            // part, within the bigint range.
            set_net_change(&entry->consumed, &entry->released,
                           net_change(entry->consumed, entry->released) -
                               net_change(part->consumed, part->released));
        }
        entry->parts = part->outer;
        pfree(part);
    }
}

void hand_to_parent(PendingUsage* entry, SubTransactionId subxact, SubTransactionId parent)
{
    SubxactPart* top = entry->parts;
    if (top != nullptr && top->subxact == subxact) {
        if (top->outer != nullptr && top->outer->subxact == parent) {
            SubxactPart* outer = top->outer;
            outer->carried += top->carried;
            outer->corrected_after += top->corrected_after;
            // The parent's state before its own first change, if it made
            // one, is the older.
            if (top->carry_saved && !outer->carry_saved) {
                outer->carry_saved = true;
                outer->carry_before = top->carry_before;
                outer->carry_excluded_before = top->carry_excluded_before;
            }
            if (entry->counter != nullptr) {
                outer->consumed += top->consumed;
                outer->released += top->released;
                outer->drawn += top->drawn;
            } else {
                // Lock mode: the nets of two parts one after the other.
                set_net_change(&outer->consumed, &outer->released,
                               net_change(outer->consumed, outer->released) +
                                   net_change(top->consumed, top->released));
            }
            entry->parts = outer;
            pfree(top);
        } else {
            top->subxact = parent;
        }
    }
    if (entry->hold_subxact == subxact)
        entry->hold_subxact = parent;
    if (entry->moved_out_subxact == subxact)
        entry->moved_out_subxact = parent;
}

namespace {

// Shared-memory mode: nothing of the transaction is left on the entry: no
// change (reserved, released, drawn, corrected or carried for alerts), no
// move or carry of its counter, nothing of the commit, and no unconfirmed
// row counted on it or moved to or from it (those of the subtransaction
// rolled back went first; others cannot name an entry pinned after them,
// checked all the same, as they hold its address).
bool holds_nothing(const PendingUsage* entry)
{
    return entry->parts == nullptr && entry->consumed == 0 && entry->released == 0 &&
           entry->drawn == 0 && entry->alert_carried == 0 && entry->alert_corrected_after == 0 &&
           entry->moved_out_subxact == InvalidSubTransactionId && entry->carry_excluded == 0 &&
           entry->committing == 0 && entry->written == 0 && !entry->part_written &&
           !entry->passed && !unconfirmed_insert_refers_to(entry);
}

// Shared-memory mode: when the transaction holds nothing on the entry, its
// pin goes and the entry keeps no counter (the next consumption pins it
// again); true then.
bool unpin_if_holding_nothing(PendingUsage* entry)
{
    if (!holds_nothing(entry))
        return false;
    if (entry->counter != nullptr)
        counter_unpin(entry->counter);
    entry->counter = nullptr;
    return true;
}

bool part_is_empty(const SubxactPart* part)
{
    return part->consumed == 0 && part->released == 0 && part->drawn == 0 && part->carried == 0 &&
           part->corrected_after == 0 && !part->carry_saved;
}

} // namespace

void give_back_unused_pin(PendingUsage* entry)
{
    if (!counter_shmem_available() || entry->counter == nullptr)
        return;
    for (const SubxactPart* part = entry->parts; part != nullptr; part = part->outer)
        if (!part_is_empty(part))
            return;
    // Empty parts change nothing (the next change makes its own again); a
    // record naming the entry may outlive them (pending_subxact_records.cpp).
    // Freed: a loop of refusals would otherwise leave one per call.
    while (SubxactPart* part = entry->parts) {
        entry->parts = part->outer;
        pfree(part);
    }
    (void)unpin_if_holding_nothing(entry);
}

bool release_hold_after_rollback(PendingUsage* entry)
{
    return !counter_shmem_available() || unpin_if_holding_nothing(entry);
}

} // namespace zechat::billing::pg
