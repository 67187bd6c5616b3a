// Carries of reservations in flight from a moved counter to the counter of
// the period that counts now (CounterTable::carry_in_flight).
//
// A transaction admitted on a counter before a schedule change moved its
// usage commits its consumption into the new period (the PostgreSQL layer
// waits for the mover and takes the change there).  Until it settles, its
// reservation stays on the old entry; the carry makes the new entry count
// it too, so that the limit of the new period holds against what will land
// in it.  Invariant, kept by every change of `reserved`, `carry_excluded`
// or `carried_in` under the table's lock:
//
//     e.carried_in == sum of carried_share(f) over the entries f carrying to e
//
// An entry whose carry has nothing left (nothing reserved, nothing carried
// into it) drops it, so it can become idle and be evicted; an entry others
// carry to stays placed while they do (is_idle()).
#include "counter_table.hpp"

#include "no_postgres.hpp"

namespace zechat::billing {

int64_t CounterTable::carried_share(const CounterEntry& entry) noexcept
{
    // The mover's own reservation moved with its move: never counted twice.
    int64_t others = entry.reserved - entry.carry_excluded;
    return (others > 0 ? others : 0) + entry.carried_in;
}

CounterEntry* CounterTable::carry_target(const CounterEntry* entry) noexcept
{
    return entry->carried_to == 0 ? nullptr : &entries()[entry->carried_to - 1];
}

void CounterTable::detach_carry(CounterEntry* entry) noexcept
{
    CounterEntry* to = carry_target(entry);
    if (to == nullptr)
        return;
    --to->carried_from;
    entry->carried_to = 0;
    entry->carry_excluded = 0;
}

// `entry`'s share changed by `delta` (already applied to its own fields):
// every entry down its chain counts the change.  Chains have no cycles
// (carry_in_flight), so the walk ends; the bound is a belt and braces.
void CounterTable::carry_down(CounterEntry* entry, int64_t delta) noexcept
{
    for (uint32_t steps = 0; entry->carried_to != 0 && steps < header_.capacity; ++steps) {
        CounterEntry* to = carry_target(entry);
        to->carried_in += delta;
        if (entry->reserved == 0 && entry->carried_in == 0)
            detach_carry(entry); // its share is 0 now
        if (delta == 0)
            return;
        entry = to;
    }
}

void CounterTable::share_changed(CounterEntry* entry, int64_t old_share) noexcept
{
    carry_down(entry, carried_share(*entry) - old_share);
}

// The entry stops carrying: the chain it carried to no longer counts its
// share.
void CounterTable::uncarry(CounterEntry* entry) noexcept
{
    CounterEntry* to = carry_target(entry);
    if (to == nullptr)
        return;
    int64_t share = carried_share(*entry);
    detach_carry(entry);
    to->carried_in -= share;
    carry_down(to, -share);
}

void CounterTable::carry_in_flight(CounterEntry* from, CounterEntry* to, int64_t own_reserved,
                                   bool* cut_back) noexcept
{
    *cut_back = false;
    if (from == to)
        return;
    uncarry(from); // a carry of an earlier move of the same period
    // `to` counts now: what is in flight on it lands in it.  Cutting its
    // carry also keeps chains free of cycles: `to` carries nowhere, so
    // nothing carries back into `from` through it.
    if (CounterEntry* earlier = carry_target(to)) {
        *cut_back = earlier == from;
        uncarry(to);
    }
    if (from->reserved == 0 && from->carried_in == 0)
        return; // nothing in flight to carry
    int64_t excluded = own_reserved < from->reserved ? own_reserved : from->reserved;
    from->carry_excluded = excluded > 0 ? excluded : 0;
    from->carried_to = number_of(to) + 1;
    ++to->carried_from;
    int64_t share = carried_share(*from);
    to->carried_in += share;
    carry_down(to, share); // to carries nowhere: nothing further down
}

void CounterTable::undo_carry(CounterEntry* from, CounterEntry* cut_back_to) noexcept
{
    uncarry(from);
    if (cut_back_to != nullptr) {
        bool ignored;
        carry_in_flight(cut_back_to, from, 0, &ignored);
    }
}

} // namespace zechat::billing
