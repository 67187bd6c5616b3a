// The shared-memory counter table on a plain memory block
// (src/core/counter_table): exact admission with reservations, eviction only
// of idle entries, lookups across tombstones.
#include <cstdint>
#include <cstring>
#include <map>
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

CounterKey key_of(const std::string& tenant, const std::string& resource = "messages",
                  int64_t period = 0, uint32_t database = 1)
{
    return make_counter_key(database, tenant.data(), tenant.size(), resource.data(),
                            resource.size(), period);
}

CounterEntry* ready_entry(CounterTable* table, const CounterKey& key, Limit limit,
                          int64_t committed = 0)
{
    bool placed = false;
    CounterEntry* entry = table->find_or_place(key, &placed);
    if (entry != nullptr && placed) {
        entry->limit = limit;
        table->finish_load(entry, committed);
    }
    return entry;
}

} // namespace

TEST(CounterTable, PlacedEntriesAreFoundAgainAndOthersAreNot)
{
    Block table(16);
    bool placed = false;
    CounterEntry* acme = table->find_or_place(key_of("acme"), &placed);
    ASSERT_NE(acme, nullptr);
    EXPECT_TRUE(placed);
    EXPECT_EQ(acme->state, CounterState::loading);
    EXPECT_EQ(table->find(key_of("acme")), acme);
    EXPECT_EQ(table->find_or_place(key_of("acme"), &placed), acme);
    EXPECT_FALSE(placed);
    EXPECT_EQ(table->find(key_of("globex")), nullptr);
    EXPECT_EQ(table->find(key_of("acme", "storage")), nullptr);
    EXPECT_EQ(table->find(key_of("acme", "messages", 1)), nullptr);
    EXPECT_EQ(table->find(key_of("acme", "messages", 0, 2)), nullptr); // other database
    EXPECT_EQ(table->live(), 1u);
}

TEST(CounterTable, ReservationsCountAgainstTheLimitUntilCancelled)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 7);
    EXPECT_EQ(table->reserve(e, 2).result, AdmissionResult::admitted);
    EXPECT_EQ(table->reserve(e, 2).result, AdmissionResult::limit_reached); // 7 + 2 + 2 > 10
    EXPECT_EQ(table->reserve(e, 1).result, AdmissionResult::admitted);
    EXPECT_EQ(e->reserved, 3);
    table->cancel_reservation(e, 2);
    EXPECT_EQ(table->reserve(e, 2).result, AdmissionResult::admitted);
    table->commit_reservation(e, 3);
    EXPECT_EQ(e->committed, 10);
    EXPECT_EQ(e->reserved, 0);
    EXPECT_EQ(table->reserve(e, 1).result, AdmissionResult::limit_reached);
}

TEST(CounterTable, ConcurrentReservationsNeverAdmitPastTheLimit)
{
    // Sixteen "transactions" each try the last units in turn; only what fits
    // is admitted, whatever the mix of commits and aborts.
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("hot"), Limit::of(100), 90);
    int admitted = 0;
    for (int tx = 0; tx < 16; ++tx)
        if (table->reserve(e, 1).result == AdmissionResult::admitted)
            ++admitted;
    EXPECT_EQ(admitted, 10);
    for (int tx = 0; tx < 10; ++tx)
        tx % 2 == 0 ? table->commit_reservation(e, 1) : table->cancel_reservation(e, 1);
    EXPECT_EQ(e->committed, 95);
    EXPECT_EQ(e->reserved, 0);
}

TEST(CounterTable, UnlimitedOverflowIsRefusedNotWrapped)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("big"), Limit::none(), INT64_MAX - 1);
    EXPECT_EQ(table->reserve(e, 1).result, AdmissionResult::admitted);
    EXPECT_EQ(table->reserve(e, 1).result, AdmissionResult::overflow);
    table->commit_reservation(e, 1);
    EXPECT_EQ(e->committed, INT64_MAX);
}

TEST(CounterTable, OnlyIdleEntriesAreRemoved)
{
    Block table(8);
    bool placed;
    CounterEntry* loading = table->find_or_place(key_of("loading"), &placed);
    EXPECT_FALSE(table->remove_if_idle(loading)); // being loaded
    CounterEntry* busy = ready_entry(table.get(), key_of("busy"), Limit::of(5));
    ASSERT_EQ(table->reserve(busy, 1).result, AdmissionResult::admitted);
    EXPECT_FALSE(table->remove_if_idle(busy)); // reservation in flight
    busy->pins = 1;
    table->commit_reservation(busy, 1);
    EXPECT_FALSE(table->remove_if_idle(busy)); // pinned
    busy->pins = 0;
    EXPECT_TRUE(table->remove_if_idle(busy));
    EXPECT_EQ(table->find(key_of("busy")), nullptr);
}

TEST(CounterTable, AFullTableEvictsTheLeastRecentlyUsedIdleEntry)
{
    Block table(3);
    CounterEntry* a = ready_entry(table.get(), key_of("a"), Limit::of(9));
    CounterEntry* b = ready_entry(table.get(), key_of("b"), Limit::of(9));
    CounterEntry* c = ready_entry(table.get(), key_of("c"), Limit::of(9));
    ASSERT_EQ(table->reserve(a, 1).result, AdmissionResult::admitted); // a busy
    table->reserve(c, 1);
    table->commit_reservation(c, 1); // c used after b
    CounterEntry* d = ready_entry(table.get(), key_of("d"), Limit::of(9));
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d, b); // b's slot: the least recently used idle one
    EXPECT_EQ(table->find(key_of("b")), nullptr);
    EXPECT_NE(table->find(key_of("a")), nullptr);
    EXPECT_NE(table->find(key_of("c")), nullptr);
    EXPECT_EQ(table->find(key_of("d")), d);
}

TEST(CounterTable, AFullTableOfBusyEntriesRefusesToPlace)
{
    Block table(2);
    CounterEntry* a = ready_entry(table.get(), key_of("a"), Limit::of(9));
    CounterEntry* b = ready_entry(table.get(), key_of("b"), Limit::of(9));
    table->reserve(a, 1);
    table->reserve(b, 1);
    bool placed = true;
    EXPECT_EQ(table->find_or_place(key_of("c"), &placed), nullptr);
    EXPECT_FALSE(placed);
    EXPECT_EQ(a->reserved, 1); // nothing busy was touched
    EXPECT_EQ(b->reserved, 1);
}

TEST(CounterTable, LookupsContinuePastTombstones)
{
    // In a table of 4, five keys collide into chains; removing entries in
    // the middle of a chain must not hide the ones after them.
    Block table(4);
    std::vector<std::string> tenants = {"t0", "t1", "t2", "t3"};
    for (auto& t : tenants)
        ASSERT_NE(ready_entry(table.get(), key_of(t), Limit::of(1)), nullptr);
    for (auto& t : tenants) {
        CounterEntry* e = table->find(key_of(t));
        ASSERT_NE(e, nullptr);
        ASSERT_TRUE(table->remove_if_idle(e));
        for (auto& other : tenants) {
            if (other > t) {
                EXPECT_NE(table->find(key_of(other)), nullptr)
                    << "lost " << other << " after " << t;
            }
        }
        // Re-place it: it must be found again and not duplicated.
        ASSERT_NE(ready_entry(table.get(), key_of(t), Limit::of(1)), nullptr);
        EXPECT_EQ(table->live(), 4u);
    }
}

TEST(CounterTable, RandomOperationsAgreeWithAModel)
{
    // A property test: random places, loads, reservations, commits, aborts
    // and evictions against a map; committed usage is never lost while an
    // entry lives, and reserved never goes negative.
    Block table(64);
    std::mt19937 rng(20261124);
    std::map<std::string, int64_t> committed_model;
    std::map<std::string, int64_t> reserved_model;
    for (int step = 0; step < 20000; ++step) {
        std::string tenant = "t" + std::to_string(rng() % 100);
        CounterKey key = key_of(tenant);
        bool placed;
        CounterEntry* e = table->find_or_place(key, &placed);
        if (e == nullptr) {
            // Only possible when every entry is busy.
            for (uint32_t i = 0; i < table->capacity(); ++i)
                EXPECT_FALSE(CounterTable::is_idle(*table->entry_at(i)));
            continue;
        }
        if (placed) {
            // Eviction forgot it: reload from the "durable" model, which an
            // idle entry had fully committed.
            e->limit = Limit::of(50);
            ASSERT_EQ(reserved_model[tenant], 0) << "evicted with reservations in flight";
            table->finish_load(e, committed_model[tenant]);
        }
        ASSERT_EQ(e->committed, committed_model[tenant]);
        ASSERT_EQ(e->reserved, reserved_model[tenant]);
        switch (rng() % 3) {
        case 0:
            if (table->reserve(e, 1 + rng() % 3).result == AdmissionResult::admitted)
                reserved_model[tenant] = e->reserved;
            ASSERT_LE(e->committed + e->reserved, 50);
            break;
        case 1:
            if (e->reserved > 0) {
                committed_model[tenant] += e->reserved;
                reserved_model[tenant] = 0;
                table->commit_reservation(e, e->reserved);
            }
            break;
        default:
            if (e->reserved > 0) {
                reserved_model[tenant] = 0;
                table->cancel_reservation(e, e->reserved);
            }
            break;
        }
    }
}
