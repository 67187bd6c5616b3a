// Carries of reservations in flight from a moved counter to the period that
// counts now (CounterTable::carry_in_flight).
//
// A transaction admitted on a counter before a schedule change moved its
// usage commits its consumption into the period that counts when it
// commits (the PostgreSQL layer waits for the mover and takes the change
// there).  Until it settles, its reservation stays on the moved entry; the
// new period must count it too, or consumers admitted there would take room
// it will take.  Rather than follow the moves (a tenant may move again, and
// back, before such a transaction ends, and any move may roll back), the
// entries of one tenant and resource share a group entry, whose
// `carried_in` is what the group's moved entries hold reserved (their
// carried_share()); an admission on an entry counts that sum, less the
// entry's own share.  Invariant, kept under the table's lock by every
// change of `reserved`, `carry_excluded` or `moved_out`:
//
//     group.carried_in == sum of carried_share(e) over the entries e of the group
//
// A move only sets `moved_out` and `carry_excluded` of the entry it moves
// from, and clears them on a moved-out entry it carries usage back to (a
// change and its reverse), so undoing it is restoring those two on each.
// Until 2026-12-07 an entry stayed moved out until evicted: its own
// reservations, back in the period that counts, also counted in the
// tenant's later periods (a consumption there refused: 5 of 5 with 3 in
// flight in the period before), and a schedule change closing that
// period took a transaction in flight on it for one whose usage had gone
// elsewhere, and let its COMMIT land in the new period: 8 of 5 (a helper's
// attack; tests/scripts/carried_then_closed.sh).  A group entry goes once
// no entry names it.
#include "counter_table.hpp"
#include "no_postgres.hpp"

namespace zechat::billing {

int64_t CounterTable::carried_share(const CounterEntry& entry) noexcept
{
    if (entry.moved_out == 0)
        return 0;
    // The mover's own reservation moved with its move: never counted twice.
    int64_t others = entry.reserved - entry.carry_excluded;
    return others > 0 ? others : 0;
}

int64_t CounterTable::carried_elsewhere(const CounterEntry& entry) noexcept
{
    if (entry.group == 0)
        return 0;
    return entries()[entry.group - 1].carried_in - carried_share(entry);
}

void CounterTable::share_changed(CounterEntry* entry, int64_t old_share) noexcept
{
    if (entry->group != 0)
        entries()[entry->group - 1].carried_in += carried_share(*entry) - old_share;
}

namespace {

CounterKey group_key_of(const CounterKey& key) noexcept
{
    CounterKey group = key;
    group.period_start = group_period;
    return group;
}

} // namespace

// The entry's group, placed if there is none yet (nullptr when every entry
// is in use).  The caller has the entry pinned, so placing cannot evict it.
CounterEntry* CounterTable::join_group(CounterEntry* entry) noexcept
{
    if (entry->group != 0)
        return &entries()[entry->group - 1];
    bool placed = false;
    CounterEntry* group = find_or_place(group_key_of(entry->key), &placed);
    if (group == nullptr)
        return nullptr;
    if (placed) {
        ++header_.groups;
        finish_load(group, 0); // nothing to read: its sum starts at 0
    } else {
        pin(group);
    }
    entry->group = number_of(group) + 1;
    return group;
}

// A counter just placed joins the group of its tenant and resource if one
// exists: it may become the period that counts (a new period begins), where
// what moved entries hold reserved must count.
void CounterTable::join_existing_group(CounterEntry* entry) noexcept
{
    if (header_.groups == 0 || entry->key.period_start == group_period)
        return;
    if (CounterEntry* group = find(group_key_of(entry->key))) {
        pin(group);
        entry->group = number_of(group) + 1;
    }
}

// An entry leaving the table: its share is 0 (it is idle, or a load that
// never admitted anything), and it gives its group its pin back.
void CounterTable::leave_group(CounterEntry* entry) noexcept
{
    if (entry->key.period_start == group_period)
        --header_.groups;
    if (entry->group == 0)
        return;
    CounterEntry* group = &entries()[entry->group - 1];
    entry->group = 0;
    unpin(group);
}

namespace {

CarryUndo carry_state_of(const CounterEntry& entry) noexcept
{
    return CarryUndo{entry.moved_out, entry.carry_excluded, entry.noted_by};
}

} // namespace

bool CounterTable::carry_in_flight(CounterEntry* from, const CounterKey& to_key,
                                   int64_t own_reserved, CarryUndo* undo) noexcept
{
    *undo = carry_state_of(*from);
    CounterEntry* group = join_group(from);
    if (group == nullptr)
        return false;
    // A counter placed for `to` later joins the group when placed.
    CounterEntry* to = find(to_key);
    if (to != nullptr && to->group == 0) {
        pin(group);
        to->group = from->group;
    }
    int64_t old_share = carried_share(*from);
    int64_t excluded = own_reserved < from->reserved ? own_reserved : from->reserved;
    from->moved_out = 1;
    from->carry_excluded = excluded > 0 ? excluded : 0;
    from->noted_by = 0; // the mark is this move's now
    share_changed(from, old_share);
    return true;
}

void CounterTable::mark_moved_out(CounterEntry* entry, uint64_t mover) noexcept
{
    if (join_group(entry) == nullptr)
        return;
    int64_t old_share = carried_share(*entry);
    entry->moved_out = 1;
    entry->noted_by = mover;
    share_changed(entry, old_share);
}

void CounterTable::unmark_noted(CounterEntry* entry, uint64_t mover) noexcept
{
    if (mover == 0 || entry->noted_by != mover)
        return;
    int64_t old_share = carried_share(*entry);
    entry->moved_out = 0;
    entry->noted_by = 0;
    share_changed(entry, old_share);
}

void CounterTable::return_carried(CounterEntry* to, CarryUndo* undo) noexcept
{
    *undo = carry_state_of(*to);
    if (to->moved_out == 0)
        return;
    int64_t old_share = carried_share(*to);
    to->moved_out = 0;
    to->carry_excluded = 0;
    to->noted_by = 0;
    share_changed(to, old_share);
}

void CounterTable::undo_carry(CounterEntry* from, const CarryUndo& undo) noexcept
{
    int64_t old_share = carried_share(*from);
    from->moved_out = undo.moved_out;
    from->carry_excluded = undo.carry_excluded;
    from->noted_by = undo.noted_by;
    share_changed(from, old_share);
}

} // namespace zechat::billing
