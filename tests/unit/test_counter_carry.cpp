// Carries (src/core/counter_carry.cpp): what transactions in flight reserved
// on a counter whose usage a schedule change moved counts in the new
// period's counter until they settle, so that the new period's limit holds
// against what will land in it.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "counter_table.hpp"

using namespace zechat::billing;

namespace {

class Block {
public:
    explicit Block(uint32_t capacity) : bytes_(CounterTable::bytes_for(capacity) / 8 + 1)
    {
        table_ = CounterTable::format(bytes_.data(), capacity);
    }
    CounterTable* operator->() { return table_; }
    CounterTable* get() { return table_; }

private:
    std::vector<uint64_t> bytes_; // 8-byte aligned
    CounterTable* table_;
};

// The same tenant and resource in the period starting at `period`.
CounterEntry* period_entry(CounterTable* table, int64_t period, int64_t committed = 0,
                           int64_t limit = 10)
{
    CounterKey key = make_counter_key(1, 7, "acme", 4, "messages", 8, period);
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

// What a transaction admitted on `from` before the move does at commit: its
// change goes to `to` first (forced, as the move carried the rest), then its
// reservation on `from` is dropped.
void commit_carried(CounterTable* table, CounterEntry* from, CounterEntry* to, int64_t amount)
{
    ASSERT_TRUE(table->force(to, amount));
    table->settle(from, amount, 0, false);
    table->settle(to, amount, 0, true);
}

} // namespace

TEST(CounterCarry, ReservationsInFlightCountInTheNewPeriodUntilTheySettle)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100, 3);
    ASSERT_EQ(reserve(table.get(), month, 2), AdmissionResult::admitted); // T1, in flight
    // The mover: marks the month, carries its 3 to the year, and T1's 2.
    table->begin_move(month, 99);
    CounterEntry* year = period_entry(table.get(), 50, 0);
    ASSERT_TRUE(table->force(year, 3));
    bool cut_back;
    table->carry_in_flight(month, year, 0, &cut_back);
    EXPECT_FALSE(cut_back);
    EXPECT_EQ(year->carried_in, 2);
    // The mover commits.
    table->settle(year, 3, 0, true);
    EXPECT_EQ(reserve(table.get(), year, 6), AdmissionResult::limit_reached); // 3 + 2 + 6
    EXPECT_EQ(reserve(table.get(), year, 5), AdmissionResult::admitted);      // exactly 10
    commit_carried(table.get(), month, year, 2); // T1 commits, into the year
    EXPECT_EQ(year->carried_in, 0);
    EXPECT_EQ(month->carried_to, 0u); // nothing left to carry
    EXPECT_EQ(year->carried_from, 0u);
    table->settle(year, 5, 0, true);
    EXPECT_EQ(year->committed, 10);
}

TEST(CounterCarry, AnAbortInFlightGivesItsRoomBackInTheNewPeriod)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), month, 4), AdmissionResult::admitted);
    CounterEntry* year = period_entry(table.get(), 50);
    bool cut_back;
    table->carry_in_flight(month, year, 0, &cut_back);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::limit_reached);
    table->settle(month, 4, 0, false); // the transaction rolls back
    EXPECT_EQ(year->carried_in, 0);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::admitted);
}

TEST(CounterCarry, TheMoversOwnReservationIsNotCountedTwice)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    ASSERT_EQ(reserve(table.get(), month, 2), AdmissionResult::admitted); // the mover's own
    ASSERT_EQ(reserve(table.get(), month, 1), AdmissionResult::admitted); // T1's
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_TRUE(table->force(year, 2)); // the move takes the mover's 2 along
    bool cut_back;
    table->carry_in_flight(month, year, 2, &cut_back);
    EXPECT_EQ(year->carried_in, 1);
    EXPECT_EQ(reserve(table.get(), year, 7), AdmissionResult::admitted); // 2 + 1 + 7
    table->settle(year, 7, 0, false);
    // The mover commits: its reservation on the month goes, T1's still counts.
    table->settle(month, 2, 0, true, 0, false, 2);
    table->settle(year, 2, 0, true);
    EXPECT_EQ(year->carried_in, 1);
    EXPECT_EQ(month->carry_excluded, 0);
    commit_carried(table.get(), month, year, 1);
    EXPECT_EQ(year->committed, 3);
    EXPECT_EQ(year->carried_in, 0);
    EXPECT_EQ(month->carried_to, 0u);
}

TEST(CounterCarry, ChainsCountInTheLastPeriod)
{
    Block table(8);
    CounterEntry* a = period_entry(table.get(), 100);
    CounterEntry* b = period_entry(table.get(), 200);
    CounterEntry* c = period_entry(table.get(), 300);
    ASSERT_EQ(reserve(table.get(), a, 2), AdmissionResult::admitted);
    bool cut_back;
    table->carry_in_flight(a, b, 0, &cut_back);
    ASSERT_EQ(reserve(table.get(), b, 3), AdmissionResult::admitted); // admitted in b
    table->carry_in_flight(b, c, 0, &cut_back);
    EXPECT_EQ(b->carried_in, 2);
    EXPECT_EQ(c->carried_in, 5);
    EXPECT_EQ(reserve(table.get(), c, 6), AdmissionResult::limit_reached);
    table->settle(a, 2, 0, false);
    EXPECT_EQ(b->carried_in, 0);
    EXPECT_EQ(c->carried_in, 3);
    EXPECT_EQ(a->carried_to, 0u);
    table->settle(b, 3, 0, false);
    EXPECT_EQ(c->carried_in, 0);
    EXPECT_EQ(b->carried_to, 0u);
    EXPECT_EQ(c->carried_from, 0u);
}

// Month to year and back: the month counts again, with what is in flight on
// it, and nothing carries in a circle.  A rolled-back move back puts the
// month's carry to the year back.
TEST(CounterCarry, AMoveBackCutsTheEarlierCarryAndItsRollbackRestoresIt)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 2), AdmissionResult::admitted);
    bool cut_back;
    table->carry_in_flight(month, year, 0, &cut_back);
    ASSERT_EQ(reserve(table.get(), year, 3), AdmissionResult::admitted);
    table->carry_in_flight(year, month, 0, &cut_back);
    EXPECT_TRUE(cut_back);
    EXPECT_EQ(month->carried_to, 0u);
    EXPECT_EQ(year->carried_in, 0);
    EXPECT_EQ(month->carried_in, 3);
    EXPECT_EQ(reserve(table.get(), month, 6), AdmissionResult::limit_reached); // 2 + 3 + 6
    table->undo_carry(year, month);
    EXPECT_EQ(year->carried_to, 0u);
    EXPECT_EQ(month->carried_in, 0);
    EXPECT_EQ(year->carried_in, 2);
    EXPECT_NE(month->carried_to, 0u);
}

TEST(CounterCarry, CarriedEntriesStayPlacedUntilNothingIsInFlight)
{
    Block table(2);
    CounterEntry* month = period_entry(table.get(), 100);
    CounterEntry* year = period_entry(table.get(), 50);
    ASSERT_EQ(reserve(table.get(), month, 1), AdmissionResult::admitted);
    bool cut_back;
    table->carry_in_flight(month, year, 0, &cut_back);
    table->unpin(month);
    table->unpin(year);
    EXPECT_FALSE(CounterTable::is_idle(*year));
    EXPECT_FALSE(table->remove_if_idle(year));
    bool placed;
    CounterKey other = make_counter_key(1, 7, "other", 5, "messages", 8, 0);
    EXPECT_EQ(table->find_or_place(other, &placed), nullptr); // nothing to evict
    table->settle(month, 1, 0, false);
    EXPECT_TRUE(CounterTable::is_idle(*year));
    EXPECT_TRUE(CounterTable::is_idle(*month));
    EXPECT_NE(table->find_or_place(other, &placed), nullptr);
}

TEST(CounterCarry, NothingInFlightCarriesNothing)
{
    Block table(8);
    CounterEntry* month = period_entry(table.get(), 100, 4);
    CounterEntry* year = period_entry(table.get(), 50);
    bool cut_back;
    table->carry_in_flight(month, year, 0, &cut_back);
    EXPECT_EQ(month->carried_to, 0u);
    EXPECT_EQ(year->carried_from, 0u);
}

// Random moves between four periods of one key, reservations, commits and
// aborts, and rolled-back moves: each entry's carried_in stays the sum of
// the shares carried to it, chains stay acyclic, and once every transaction
// settled nothing is carried any more.
TEST(CounterCarry, RandomMovesKeepTheSumsOfTheCarries)
{
    Block table(8);
    std::vector<CounterEntry*> periods;
    for (int64_t p = 1; p <= 4; ++p)
        periods.push_back(period_entry(table.get(), p * 100, 0, 1000000));
    struct InFlight {
        CounterEntry* entry;
        int64_t amount;
    };
    std::vector<InFlight> in_flight;
    std::mt19937 random(20261204);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
    auto check = [&] {
        for (CounterEntry* e : periods) {
            int64_t sum = 0;
            uint32_t from = 0;
            for (CounterEntry* f : periods) {
                if (f == e || f->carried_to == 0)
                    continue;
                // Entry numbers: placed in order in a fresh table.
                uint32_t number = static_cast<uint32_t>(e - periods[0]);
                if (f->carried_to - 1 == number) {
                    sum += CounterTable::carried_share(*f);
                    ++from;
                }
            }
            ASSERT_EQ(e->carried_in, sum);
            ASSERT_EQ(e->carried_from, from);
            // Acyclic: a walk from e ends within four steps.
            CounterEntry* walk = e;
            for (int steps = 0; walk->carried_to != 0; ++steps) {
                ASSERT_LT(steps, 4);
                walk = periods[0] + (walk->carried_to - 1);
            }
        }
    };
    std::size_t current = 0;
    int steps_carrying = 0;
    for (int step = 0; step < 20000; ++step) {
        switch (pick(4)) {
        case 0: { // a transaction reserves in the current period
            int64_t amount = 1 + static_cast<int64_t>(pick(5));
            ASSERT_EQ(reserve(table.get(), periods[current], amount), AdmissionResult::admitted);
            in_flight.push_back({periods[current], amount});
            break;
        }
        case 1: { // one ends: committed (into the current period) or rolled back
            if (in_flight.empty())
                break;
            std::size_t i = pick(in_flight.size());
            InFlight t = in_flight[i];
            in_flight.erase(in_flight.begin() + static_cast<long>(i));
            if (pick(2) == 0 && t.entry != periods[current])
                commit_carried(table.get(), t.entry, periods[current], t.amount);
            else
                table->settle(t.entry, t.amount, 0, pick(2) == 0);
            break;
        }
        case 2: { // a move to another period, kept
            std::size_t to = pick(periods.size());
            bool cut_back;
            table->carry_in_flight(periods[current], periods[to], 0, &cut_back);
            current = to;
            break;
        }
        case 3: { // a move rolled back
            std::size_t to = pick(periods.size());
            if (to == current)
                break;
            bool cut_back;
            table->carry_in_flight(periods[current], periods[to], 0, &cut_back);
            table->undo_carry(periods[current], cut_back ? periods[to] : nullptr);
            break;
        }
        }
        check();
        for (CounterEntry* e : periods)
            if (e->carried_in > 0) {
                ++steps_carrying;
                break;
            }
    }
    EXPECT_GT(steps_carrying, 1000); // the walk did carry
    for (const InFlight& t : in_flight)
        table->settle(t.entry, t.amount, 0, false);
    for (CounterEntry* e : periods) {
        EXPECT_EQ(e->carried_in, 0);
        EXPECT_EQ(e->carried_to, 0u);
        EXPECT_EQ(e->carried_from, 0u);
    }
}
