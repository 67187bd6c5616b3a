// Carries (src/core/counter_carry.cpp): what transactions in flight reserved
// on a counter whose usage a schedule change moved counts in the admissions
// of the tenant's other periods until they settle, so that the period that
// counts stays within its limit with what will land in it -- whatever
// moves, moves back and rolled-back moves come meanwhile.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "counter_table.hpp"
#include "counter_table_block.hpp"

using namespace zechat::billing;

namespace {

using Block = CounterTableBlock;

// The counter of tenant acme's messages in the period starting at `period`,
// pinned (as by the transaction using it).
CounterEntry* period_entry(CounterTable* table, int64_t period, int64_t committed = 0,
                           int64_t limit = 10, const char* tenant = "acme")
{
    CounterKey key = make_counter_key(1, 7, tenant, std::strlen(tenant), "messages", 8, period);
    bool placed = false;
    CounterEntry* entry = table->find_or_place(key, &placed);
    if (entry != nullptr && placed) {
        table->finish_load(entry, committed);
        entry->limit = Limit::of(limit);
    } else if (entry != nullptr) {
        table->pin(entry);
    }
    return entry;
}

AdmissionResult reserve(CounterTable* table, CounterEntry* e, int64_t amount)
{
    return table->reserve(e, amount, e->limit, 0).result;
}

// A correction of a transaction that draws on nothing (> 0).
bool force(CounterTable* table, CounterEntry* e, int64_t delta)
{
    int64_t drawn = 0;
    return table->force(e, delta, &drawn);
}

CarryUndo move(CounterTable* table, CounterEntry* from, CounterEntry* to, int64_t own = 0)
{
    CarryUndo undo;
    EXPECT_TRUE(table->carry_in_flight(from, to->key, own, &undo));
    return undo;
}

// A move as the PostgreSQL layer makes it: `to`, moved out by an earlier
// move, gets its usage back.  The undos, of `from` and of `to`.
struct MoveUndo {
    CarryUndo from;
    CarryUndo to;
};

MoveUndo move_back(CounterTable* table, CounterEntry* from, CounterEntry* to)
{
    MoveUndo undo;
    undo.from = move(table, from, to);
    table->return_carried(to, &undo.to);
    return undo;
}

// What a transaction admitted on `from` before a move does at commit: its
// change goes to `to`, the period that counts then (forced, as the move
// carried the rest), before its reservation on `from` is dropped.
void commit_into(CounterTable* table, CounterEntry* from, CounterEntry* to, int64_t amount)
{
    ASSERT_TRUE(force(table, to, amount));
    table->settle(from, amount, 0, false);
    table->settle(to, amount, 0, true);
}

} // namespace

TEST(CounterCarry, ReservationsInFlightCountInTheNewPeriodUntilTheySettle)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100, 3);
    ASSERT_EQ(reserve(table.get(), month, 2), AdmissionResult::admitted); // T1, in flight
    // The mover marks the month, takes its 3 to the year, and carries T1's 2.
    table->begin_move(month, 99);
    CounterEntry* year = period_entry(table.get(), 50, 0);
    ASSERT_TRUE(force(table.get(), year, 3));
    move(table.get(), month, year);
    EXPECT_EQ(table->carried_elsewhere(*year), 2);
    EXPECT_EQ(table->carried_elsewhere(*month), 0); // its own are not counted twice
    // The mover commits.
    table->settle(year, 3, 0, true);
    EXPECT_EQ(reserve(table.get(), year, 6), AdmissionResult::limit_reached); // 3 + 2 + 6
    EXPECT_EQ(reserve(table.get(), year, 5), AdmissionResult::admitted);      // exactly 10
    commit_into(table.get(), month, year, 2); // T1 commits, into the year
    EXPECT_EQ(table->carried_elsewhere(*year), 0);
    table->settle(year, 5, 0, true);
    EXPECT_EQ(year->committed, 10);
}

TEST(CounterCarry, AnAbortInFlightGivesItsRoomBackInTheNewPeriod)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), month, 4), AdmissionResult::admitted);
    CounterEntry* year = period_entry(table.get(), 50);
    move(table.get(), month, year);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::limit_reached);
    table->settle(month, 4, 0, false); // the transaction rolls back
    EXPECT_EQ(table->carried_elsewhere(*year), 0);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::admitted);
}

TEST(CounterCarry, TheMoversOwnReservationIsNotCountedTwice)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), month, 2), AdmissionResult::admitted); // the mover's own
    ASSERT_EQ(reserve(table.get(), month, 1), AdmissionResult::admitted); // T1's
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_TRUE(force(table.get(), year, 2)); // the move takes the mover's 2 along
    move(table.get(), month, year, 2);
    EXPECT_EQ(table->carried_elsewhere(*year), 1);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::admitted); // 2 + 1 + 7
    table->settle(year, 7, 0, false);
    // The mover commits: its reservation on the month goes, T1's still counts.
    table->settle(month, 2, 0, true, 0, false, 2);
    table->settle(year, 2, 0, true);
    EXPECT_EQ(table->carried_elsewhere(*year), 1);
    EXPECT_EQ(month->carry_excluded, 0);
    commit_into(table.get(), month, year, 1);
    EXPECT_EQ(year->committed, 3);
    EXPECT_EQ(table->carried_elsewhere(*year), 0);
}

// A consumer in flight in a, the tenant moved on to b and then to c: what
// it holds and what was admitted in b meanwhile count in c.
TEST(CounterCarry, MovesOneAfterAnotherCountEverythingInFlight)
{
    Block table(8);
    CounterEntry* a = period_entry(table.get(), 100);
    CounterEntry* b = period_entry(table.get(), 200);
    CounterEntry* c = period_entry(table.get(), 300);
    ASSERT_EQ(reserve(table.get(), a, 2), AdmissionResult::admitted);
    move(table.get(), a, b);
    ASSERT_EQ(reserve(table.get(), b, 3), AdmissionResult::admitted); // admitted in b
    move(table.get(), b, c);
    EXPECT_EQ(table->carried_elsewhere(*c), 5);
    EXPECT_EQ(reserve(table.get(), c, 6), AdmissionResult::limit_reached);
    table->settle(a, 2, 0, false);
    EXPECT_EQ(table->carried_elsewhere(*c), 3);
    table->settle(b, 3, 0, false);
    EXPECT_EQ(table->carried_elsewhere(*c), 0);
}

// A consumer in flight in a; the tenant moved to b, then to c; a move back
// to a rolled back: c, the period that counts, still counts the consumer
// (until 2026-12-05 the rollback left the consumer counted nowhere, and the
// tenant ended at 15 of 10).
TEST(CounterCarry, ARolledBackMoveLeavesTheOthersAsTheyWere)
{
    Block table(8);
    CounterEntry* a = period_entry(table.get(), 100);
    CounterEntry* b = period_entry(table.get(), 200);
    CounterEntry* c = period_entry(table.get(), 300);
    ASSERT_EQ(reserve(table.get(), a, 5), AdmissionResult::admitted);
    move(table.get(), a, b);
    move(table.get(), b, c);
    CarryUndo back = move(table.get(), c, a);
    table->undo_carry(c, back);
    EXPECT_EQ(table->carried_elsewhere(*c), 5);
    EXPECT_EQ(reserve(table.get(), c, 10), AdmissionResult::limit_reached);
    EXPECT_EQ(reserve(table.get(), c, 5), AdmissionResult::admitted);
}

// The mover consumed 3 in the month and moved to the year; a move back to
// the month rolled back to a savepoint: the year counts its 3 once (until
// 2026-12-05 twice, and a consumption of 2 that fitted was refused).
TEST(CounterCarry, AnUndoneMoveBackKeepsTheMoversExclusion)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 5), AdmissionResult::admitted); // T1
    ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted); // the mover
    ASSERT_TRUE(force(table.get(), year, 3));
    move(table.get(), month, year, 3);
    CarryUndo back = move(table.get(), year, month, 3);
    table->undo_carry(year, back);
    EXPECT_EQ(table->carried_elsewhere(*year), 5);
    EXPECT_EQ(reserve(table.get(), year, 2), AdmissionResult::admitted); // 3 + 5 + 2
}

// Month to year and back in one transaction that rolls back: nothing is
// carried anywhere afterwards, in whichever order the undos come.
TEST(CounterCarry, ARolledBackMoveAndMoveBackCarryNothing)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 5), AdmissionResult::admitted);
    CarryUndo there = move(table.get(), month, year);
    CarryUndo back = move(table.get(), year, month);
    table->undo_carry(month, there);
    table->undo_carry(year, back);
    EXPECT_EQ(table->carried_elsewhere(*year), 0);
    EXPECT_EQ(table->carried_elsewhere(*month), 0);
    EXPECT_EQ(month->moved_out, 0u);
    EXPECT_EQ(year->moved_out, 0u);
}

// Month to year and back: the month counts again, and what is in flight
// on it counts there only, not in the tenant's later periods as well
// (until 2026-12-07 it stayed moved out: a period after it refused 3 of
// its room while T1 was in flight; tests/scripts/carried_then_closed.sh).
TEST(CounterCarry, AMoveBackMakesThePeriodCountItsOwnAgain)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted); // T1
    move_back(table.get(), month, year);
    EXPECT_EQ(table->carried_elsewhere(*year), 3);
    move_back(table.get(), year, month);
    EXPECT_EQ(month->moved_out, 0u);
    EXPECT_EQ(year->moved_out, 1u);
    EXPECT_EQ(table->carried_elsewhere(*month), 0);
    EXPECT_EQ(reserve(table.get(), month, 8), AdmissionResult::limit_reached); // 3 + 8
    CounterEntry* next = period_entry(table.get(), 200);                       // the month ends
    EXPECT_EQ(table->carried_elsewhere(*next), 0);
    EXPECT_EQ(reserve(table.get(), next, 10), AdmissionResult::admitted);
}

// The move back rolled back, in either order of the undos: the month is
// moved out again, and T1's reservation counts in the year.
TEST(CounterCarry, AnUndoneMoveBackMovesThePeriodOutAgain)
{
    for (bool to_first : {true, false}) {
        Block table(8);
        CounterEntry* month = period_entry(table.get(), 100);
        CounterEntry* year = period_entry(table.get(), 50);
        ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted); // T1
        move_back(table.get(), month, year);
        MoveUndo back = move_back(table.get(), year, month);
        if (to_first)
            table->undo_carry(month, back.to);
        table->undo_carry(year, back.from);
        if (!to_first)
            table->undo_carry(month, back.to);
        EXPECT_EQ(month->moved_out, 1u);
        EXPECT_EQ(year->moved_out, 0u);
        EXPECT_EQ(table->carried_elsewhere(*year), 3);
        EXPECT_EQ(reserve(table.get(), year, 8), AdmissionResult::limit_reached);
    }
}

// A transaction taking its change to a period that a move in progress is
// leaving: what it reserves there counts in the tenant's other periods
// (until 2026-12-05 a move that found nothing in flight there carried
// nothing, and the tenant ended at 15 of 10).
TEST(CounterCarry, ReservationsMadeAfterTheMoveCountToo)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    move(table.get(), year, month); // nothing in flight on the year yet
    ASSERT_TRUE(force(table.get(), year, 5));
    EXPECT_EQ(table->carried_elsewhere(*month), 5);
    EXPECT_EQ(reserve(table.get(), month, 6), AdmissionResult::limit_reached);
}

// The move does not place the new period's counter: placed later (the
// first consumption there), it counts what the moved counter holds.
TEST(CounterCarry, TheNewPeriodsCounterPlacedLaterCountsTheCarry)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), month, 4), AdmissionResult::admitted);
    CarryUndo undo;
    CounterKey year_key = make_counter_key(1, 7, "acme", 4, "messages", 8, 50);
    ASSERT_TRUE(table->carry_in_flight(month, year_key, 0, &undo));
    EXPECT_EQ(table->find(year_key), nullptr);
    CounterEntry* year = period_entry(table.get(), 50);
    EXPECT_EQ(table->carried_elsewhere(*year), 4);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::limit_reached);
}

// A change whose new schedule starts its period where the old one did and
// ends it sooner (10-second periods made 7-second, same anchor) keeps the
// usage in place: the carry goes to the period's own key.  What is in
// flight there may commit into the period after it, so that one counts it,
// and the period itself does not count it twice.  Until 2026-12-07 such a
// carry did nothing, and in shared-memory mode the next period admitted its
// whole limit besides (the claim of the kept period in usage_moves.cpp).
TEST(CounterCarry, AKeptPeriodCountsItsInFlightInThePeriodAfterIt)
{
    Block table(8);
    CounterEntry* first = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), first, 3), AdmissionResult::admitted); // in flight
    move(table.get(), first, first);
    EXPECT_EQ(table->carried_elsewhere(*first), 0);
    EXPECT_EQ(reserve(table.get(), first, 7), AdmissionResult::admitted); // 3 + 7 of 10
    table->settle(first, 7, 0, true);
    CounterEntry* next = period_entry(table.get(), 170);
    EXPECT_EQ(table->carried_elsewhere(*next), 3);
    EXPECT_EQ(reserve(table.get(), next, 8), AdmissionResult::limit_reached);
    commit_into(table.get(), first, next, 3);
    EXPECT_EQ(table->carried_elsewhere(*next), 0);
    EXPECT_EQ(reserve(table.get(), next, 7), AdmissionResult::admitted); // 3 + 7 of 10
}

// A counter placed for a key whose move found no counter starts moved out:
// what is reserved on it (a transaction taking its change there from a
// period an earlier move left) counts in the tenant's other periods.
TEST(CounterCarry, ACounterPlacedForAMovedKeyStartsMovedOut)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    table->mark_moved_out(year, 77);
    ASSERT_TRUE(force(table.get(), year, 5));
    EXPECT_EQ(table->carried_elsewhere(*year), 0);
    EXPECT_EQ(table->carried_elsewhere(*month), 0); // the month has not joined...
    CounterEntry* next = period_entry(table.get(), 400);
    EXPECT_EQ(table->carried_elsewhere(*next), 5); // ...one placed later has
    table->settle(year, 5, 0, false);
    EXPECT_EQ(table->carried_elsewhere(*next), 0);
}

// The move that marked a counter placed under its record rolled back: the
// counter counts its own again, in its period only.  A mover's rollback
// takes back its own marks, not those of another.
TEST(CounterCarry, ARolledBackMoversMarkGoes)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    table->mark_moved_out(month, 77);
    ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted);
    CounterEntry* next = period_entry(table.get(), 200);
    EXPECT_EQ(table->carried_elsewhere(*next), 3);
    table->unmark_noted(month, 88);
    EXPECT_EQ(table->carried_elsewhere(*next), 3);
    table->unmark_noted(month, 77);
    EXPECT_EQ(month->moved_out, 0u);
    EXPECT_EQ(table->carried_elsewhere(*next), 0);
    EXPECT_EQ(reserve(table.get(), next, 10), AdmissionResult::admitted);
}

// A move carried the marked counter since: the mark is that move's, and
// stays when the mover whose record made it rolls back.
TEST(CounterCarry, AMarkCarriedSinceOutlivesItsRecord)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    table->mark_moved_out(month, 77);
    ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted);
    move_back(table.get(), month, year);
    table->unmark_noted(month, 77);
    EXPECT_EQ(month->moved_out, 1u);
    EXPECT_EQ(table->carried_elsewhere(*year), 3);
}

// The mover that marked the counter under its record moved back to it,
// then rolled back: the return's undo brings the mark back, and the
// rollback of the record takes it (until 2026-12-07 the undo left it:
// a period after it refused room, and a close later took the 3 in flight
// for carried ones, 8 of 5; a helper's attack).
TEST(CounterCarry, AReturnUndoneLeavesNoMarkOfItsMover)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* week = period_entry(table.get(), 70);
    table->mark_moved_out(month, 77);
    ASSERT_EQ(reserve(table.get(), month, 3), AdmissionResult::admitted);
    MoveUndo back = move_back(table.get(), week, month);
    EXPECT_EQ(month->moved_out, 0u);
    table->undo_carry(month, back.to);
    table->undo_carry(week, back.from);
    EXPECT_EQ(month->moved_out, 1u);
    table->unmark_noted(month, 77);
    EXPECT_EQ(month->moved_out, 0u);
    CounterEntry* next = period_entry(table.get(), 200);
    EXPECT_EQ(table->carried_elsewhere(*next), 0);
}

// A record of a whole database: every counter of that database it marked.
TEST(CounterCarry, ARolledBackDatabaseRecordUnmarksItsDatabaseOnly)
{
    Block table(8);
    CounterEntry* a = period_entry(table.get(), 100, 0, 10, "a");
    CounterEntry* b = period_entry(table.get(), 100, 0, 10, "b");
    CounterKey other_key = make_counter_key(2, 7, "c", 1, "messages", 8, 100);
    bool placed = false;
    CounterEntry* c = table->find_or_place(other_key, &placed);
    ASSERT_TRUE(placed);
    table->finish_load(c, 0);
    for (CounterEntry* e : {a, b, c})
        table->mark_moved_out(e, 77);
    table->unmark_noted_in(1, 0, table->capacity(),
                           [](const CounterEntry& e) { return e.noted_by == 77; });
    EXPECT_EQ(a->moved_out, 0u);
    EXPECT_EQ(b->moved_out, 0u);
    EXPECT_EQ(c->moved_out, 1u);
}

// A counter placed after a move (a new period begins) counts what moved
// counters of its tenant hold; other tenants' counters do not.
TEST(CounterCarry, CountersPlacedLaterJoinTheirTenantsGroup)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 4), AdmissionResult::admitted);
    move(table.get(), month, year);
    CounterEntry* next = period_entry(table.get(), 400);
    EXPECT_EQ(table->carried_elsewhere(*next), 4);
    CounterEntry* other = period_entry(table.get(), 400, 0, 10, "other");
    EXPECT_EQ(table->carried_elsewhere(*other), 0);
}

// A tenant's month counter whose usage (1) moved to its year counter, the
// move committed and both let go: two idle counters and their group.
namespace {

struct SettledMove {
    CounterEntry* month;
    CounterEntry* year;
};

SettledMove settled_move(CounterTable* table)
{
    CounterEntry* month = period_entry(table, 100);
    CounterEntry* year = period_entry(table, 50);
    EXPECT_EQ(reserve(table, month, 1), AdmissionResult::admitted);
    move(table, month, year);
    table->unpin(year);
    table->settle(month, 1, 0, true);
    table->unpin(month);
    EXPECT_EQ(table->live(), 3u);
    return SettledMove{month, year};
}

} // namespace

// A dropped database's moved counters and their group all go.
TEST(CounterCarry, ADroppedDatabaseTakesItsGroupsAlong)
{
    Block table(4);
    settled_move(table.get());
    EXPECT_EQ(table->remove_database(1, 0, 4), 0u);
    EXPECT_EQ(table->live(), 0u);
}

// Removed one entry at a time, whichever order the group and its counters
// lie in: the group goes with the last counter naming it, and a group no
// counter names any more goes when met.
TEST(CounterCarry, ADroppedDatabaseGoesAnEntryAtATime)
{
    for (uint32_t from_the_end = 0; from_the_end < 2; ++from_the_end) {
        Block table(4);
        settled_move(table.get());
        for (uint32_t step = 0; step < 4; ++step) {
            uint32_t entry = from_the_end != 0 ? 3 - step : step;
            EXPECT_EQ(table->remove_database(1, entry, 1), 0u) << entry;
        }
        EXPECT_EQ(table->live(), 0u) << from_the_end;
    }
    Block table(4);
    SettledMove moved = settled_move(table.get());
    EXPECT_TRUE(table->remove_if_idle(moved.month));
    EXPECT_TRUE(table->remove_if_idle(moved.year));
    EXPECT_EQ(table->live(), 1u); // the group, idle
    EXPECT_EQ(table->remove_database(1, 0, 4), 0u);
    EXPECT_EQ(table->live(), 0u);
    EXPECT_EQ(table->remove_database(1, 9, 4), 0u); // past the end: nothing
}

// Counters stay evictable once nothing is in flight; the group goes with
// the last of them; a table with no room for a group refuses the move.
TEST(CounterCarry, GroupsLiveAsLongAsTheirCounters)
{
    Block table(3);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 1), AdmissionResult::admitted);
    move(table.get(), month, year);
    EXPECT_EQ(table->live(), 3u); // two counters and their group
    table->unpin(year);
    EXPECT_TRUE(table->remove_if_idle(year));
    table->settle(month, 1, 0, false);
    table->unpin(month);
    EXPECT_TRUE(table->remove_if_idle(month));
    bool placed;
    CounterKey other = make_counter_key(1, 7, "other", 5, "messages", 8, 0);
    CounterEntry* a = table->find_or_place(other, &placed);
    CounterKey other2 = make_counter_key(1, 7, "other2", 6, "messages", 8, 0);
    CounterEntry* b = table->find_or_place(other2, &placed);
    CounterKey other3 = make_counter_key(1, 7, "other3", 6, "messages", 8, 0);
    EXPECT_NE(table->find_or_place(other3, &placed), nullptr); // the idle group was evicted
    table->finish_load(a, 0);
    table->finish_load(b, 0);
    CarryUndo undo;
    EXPECT_FALSE(table->carry_in_flight(a, b->key, 0, &undo)); // every entry pinned
}

// Random reservations, commits, aborts, moves and rolled-back moves over
// four periods of one tenant: the group's sum stays the sum of the shares,
// a transaction committing into the period that counts never takes it past
// the limit once admitted there (what it carried counted), and once every
// transaction settled nothing is carried.
TEST(CounterCarry, RandomMovesKeepTheGroupSum)
{
    Block table(16);
    std::vector<CounterEntry*> periods;
    for (int64_t p = 1; p <= 4; ++p)
        periods.push_back(period_entry(table.get(), p * 100, 0, 1000000000));
    struct InFlight {
        CounterEntry* entry;
        int64_t amount;
    };
    std::vector<InFlight> in_flight;
    std::size_t current = 0;
    std::mt19937 random(20261205);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
    auto check = [&] {
        CounterEntry* group = nullptr;
        int64_t sum = 0;
        for (CounterEntry* e : periods) {
            sum += CounterTable::carried_share(*e);
            if (e->group != 0)
                group = table->entry_at(e->group - 1);
        }
        if (group != nullptr)
            ASSERT_EQ(group->carried_in, sum);
        else
            ASSERT_EQ(sum, 0);
        // Exactly what is in flight on the periods that no longer count:
        // the one that counts is not moved out, whatever moved it before.
        int64_t away = 0;
        for (const InFlight& t : in_flight)
            if (t.entry != periods[current])
                away += t.amount;
        ASSERT_EQ(sum, away);
        for (CounterEntry* e : periods)
            ASSERT_GE(table->carried_elsewhere(*e), 0);
    };
    int steps_carrying = 0;
    for (int step = 0; step < 20000; ++step) {
        switch (pick(4)) {
        case 0: { // a transaction reserves in the period that counts
            int64_t amount = 1 + static_cast<int64_t>(pick(5));
            ASSERT_EQ(reserve(table.get(), periods[current], amount), AdmissionResult::admitted);
            in_flight.push_back({periods[current], amount});
            break;
        }
        case 1: { // one ends: committed (into the period that counts) or rolled back
            if (in_flight.empty())
                break;
            std::size_t i = pick(in_flight.size());
            InFlight t = in_flight[i];
            in_flight.erase(in_flight.begin() + static_cast<long>(i));
            if (pick(2) == 0 && t.entry != periods[current])
                commit_into(table.get(), t.entry, periods[current], t.amount);
            else
                table->settle(t.entry, t.amount, 0, pick(2) == 0);
            break;
        }
        case 2: { // a move to another period, kept
            std::size_t to = pick(periods.size());
            move_back(table.get(), periods[current], periods[to]);
            current = to;
            break;
        }
        case 3: { // a move rolled back
            std::size_t to = pick(periods.size());
            MoveUndo undo = move_back(table.get(), periods[current], periods[to]);
            table->undo_carry(periods[to], undo.to);
            table->undo_carry(periods[current], undo.from);
            break;
        }
        }
        check();
        if (table->carried_elsewhere(*periods[current]) > 0)
            ++steps_carrying;
    }
    EXPECT_GT(steps_carrying, 1000); // the walk did carry
    for (const InFlight& t : in_flight)
        table->settle(t.entry, t.amount, 0, false);
    for (CounterEntry* e : periods)
        EXPECT_EQ(table->carried_elsewhere(*e), 0);
}
