// The shared-memory counter table on a plain memory block
// (src/core/counter_table): exact admission with reservations, eviction only
// of idle entries and the longest idle first, lookups that stay short and
// right however many keys come and go.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "counter_table.hpp"
#include "counter_table_block.hpp"

using namespace zechat::billing;

namespace {

using Block = CounterTableBlock;

CounterKey key_of(const std::string& tenant, const std::string& resource = "messages",
                  int64_t period = 0, uint32_t database = 1)
{
    return make_counter_key(database, 7, tenant.data(), tenant.size(), resource.data(),
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
        table->unpin(entry); // the tests pin explicitly
    }
    return entry;
}

// One admission against the entry's own limit, as a transaction that has
// released nothing.
AdmissionResult reserve(CounterTable* table, CounterEntry* e, int64_t amount)
{
    return table->reserve(e, amount, e->limit, 0).result;
}

// What one transaction has reserved, released and drawn on an entry.
using Own = CounterTable::OwnChanges;

// A release by the transaction `own`, recorded in it.
int64_t release(CounterTable* table, CounterEntry* e, int64_t amount, Own* own,
                bool of_stored_rows = false)
{
    int64_t given = table->release(e, amount, own, of_stored_rows);
    own->released += given;
    return given;
}

// The transaction `own` ends.
void settle(CounterTable* table, CounterEntry* e, const Own& own, bool commit)
{
    table->settle(e, own.reserved, own.released, commit, 0, false, 0, own.drawn);
}

} // namespace

// Linear probing degrades with clustered homes: keys that differ only in a
// few bytes (t1, t2, ... as tenants often are) must still spread evenly.
TEST(CounterTable, SimilarKeysSpreadOverTheHomeSlots)
{
    constexpr uint32_t buckets = 1024;
    constexpr int keys = 16 * buckets;
    std::vector<int> load(buckets, 0);
    for (int i = 0; i < keys; ++i)
        ++load[hash_counter_key(key_of("t" + std::to_string(i))) % buckets];
    int fullest = *std::max_element(load.begin(), load.end());
    int emptiest = *std::min_element(load.begin(), load.end());
    // A uniform hash gives 16 +- 4 here; allow twice that spread.
    EXPECT_LE(fullest, 16 + 24);
    EXPECT_GE(emptiest, 1);
}

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
    CounterKey reinstalled = key_of("acme");
    reinstalled.store = 8;
    EXPECT_EQ(table->find(reinstalled), nullptr); // the extension was dropped and created again
    EXPECT_EQ(table->live(), 1u);
}

TEST(CounterTable, ReservationsCountAgainstTheLimitUntilCancelled)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 7);
    EXPECT_EQ(reserve(table.get(), e, 2), AdmissionResult::admitted);
    EXPECT_EQ(reserve(table.get(), e, 2), AdmissionResult::limit_reached); // 7 + 2 + 2 > 10
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted);
    EXPECT_EQ(e->reserved, 3);
    table->settle(e, 2, 0, false);
    EXPECT_EQ(reserve(table.get(), e, 2), AdmissionResult::admitted);
    table->settle(e, 3, 0, true);
    EXPECT_EQ(e->committed, 10);
    EXPECT_EQ(e->reserved, 0);
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::limit_reached);
}

TEST(CounterTable, ConcurrentReservationsNeverAdmitPastTheLimit)
{
    // Sixteen "transactions" each try the last units in turn; only what fits
    // is admitted, whatever the mix of commits and aborts.
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("hot"), Limit::of(100), 90);
    int admitted = 0;
    for (int tx = 0; tx < 16; ++tx)
        if (reserve(table.get(), e, 1) == AdmissionResult::admitted)
            ++admitted;
    EXPECT_EQ(admitted, 10);
    for (int tx = 0; tx < 10; ++tx)
        tx % 2 == 0 ? table->settle(e, 1, 0, true) : table->settle(e, 1, 0, false);
    EXPECT_EQ(e->committed, 95);
    EXPECT_EQ(e->reserved, 0);
}

// At the limit the refusal is the limit's, even where the sum would also
// pass the bigint range.
TEST(CounterTable, TheLimitIsReportedBeforeTheBigintRange)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("max"), Limit::of(INT64_MAX), INT64_MAX - 1);
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted);
    EXPECT_EQ(reserve(table.get(), e, INT64_MAX), AdmissionResult::limit_reached);
}

TEST(CounterTable, UnlimitedOverflowIsRefusedNotWrapped)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("big"), Limit::none(), INT64_MAX - 1);
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted);
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::overflow);
    table->settle(e, 1, 0, true);
    EXPECT_EQ(e->committed, INT64_MAX);
}

TEST(CounterTable, OnlyIdleEntriesAreRemoved)
{
    Block table(8);
    bool placed;
    CounterEntry* loading = table->find_or_place(key_of("loading"), &placed);
    EXPECT_FALSE(table->remove_if_idle(loading)); // being loaded
    CounterEntry* busy = ready_entry(table.get(), key_of("busy"), Limit::of(5));
    ASSERT_EQ(reserve(table.get(), busy, 1), AdmissionResult::admitted);
    EXPECT_FALSE(table->remove_if_idle(busy)); // reservation in flight
    table->pin(busy);
    table->settle(busy, 1, 0, true);
    EXPECT_FALSE(table->remove_if_idle(busy)); // pinned
    table->unpin(busy);
    EXPECT_TRUE(table->remove_if_idle(busy));
    EXPECT_EQ(table->find(key_of("busy")), nullptr);
}

// DROP DATABASE: the database's entries go, those of other databases stay;
// one still in use (never, for a dropped database) is left and counted.
TEST(CounterTable, ADatabaseIsRemovedWhole)
{
    Block table(8);
    CounterEntry* kept =
        ready_entry(table.get(), key_of("acme", "messages", 0, 2), Limit::of(5), 3);
    ready_entry(table.get(), key_of("acme", "messages", 0, 1), Limit::of(5), 3);
    ready_entry(table.get(), key_of("acme", "storage", -1, 1), Limit::of(5), 1);
    CounterEntry* busy = ready_entry(table.get(), key_of("globex", "messages", 0, 1), Limit::of(5));
    table->pin(busy);
    EXPECT_EQ(table->live(), 4u);
    EXPECT_EQ(table->remove_database(1, 0, 8), 1u);
    EXPECT_EQ(table->live(), 2u);
    EXPECT_EQ(table->find(key_of("acme", "messages", 0, 1)), nullptr);
    EXPECT_EQ(table->find(key_of("acme", "messages", 0, 2)), kept);
    EXPECT_EQ(kept->committed, 3);
    table->unpin(busy);
    EXPECT_EQ(table->remove_database(1, 0, 8), 0u);
    EXPECT_EQ(table->live(), 1u);
    // Its slots are free again: a new key of database 1 starts from its load.
    CounterEntry* again =
        ready_entry(table.get(), key_of("acme", "messages", 0, 1), Limit::of(5), 0);
    EXPECT_EQ(again->committed, 0);
}

// billing.counters reads the table in several holds of its lock and trusts
// what it read only if no key was placed meanwhile: finding counts nothing,
// placing (after an eviction too) counts one.
TEST(CounterTable, PlacementsCountKeysPlaced)
{
    Block table(2);
    EXPECT_EQ(table->placements(), 0u);
    CounterEntry* a = ready_entry(table.get(), key_of("a"), Limit::of(9));
    ready_entry(table.get(), key_of("b"), Limit::of(9));
    EXPECT_EQ(table->placements(), 2u);
    bool placed;
    EXPECT_EQ(table->find_or_place(key_of("a"), &placed), a);
    EXPECT_FALSE(placed);
    EXPECT_EQ(table->placements(), 2u);
    ready_entry(table.get(), key_of("c"), Limit::of(9)); // evicts a
    ready_entry(table.get(), key_of("a"), Limit::of(9)); // a again, in b's entry
    EXPECT_EQ(table->placements(), 4u);
    EXPECT_EQ(table->find(key_of("b")), nullptr);
}

TEST(CounterTable, AFullTableEvictsTheEntryIdleLongest)
{
    Block table(4);
    CounterEntry* a = ready_entry(table.get(), key_of("a"), Limit::of(9));
    CounterEntry* b = ready_entry(table.get(), key_of("b"), Limit::of(9));
    CounterEntry* c = ready_entry(table.get(), key_of("c"), Limit::of(9));
    CounterEntry* d = ready_entry(table.get(), key_of("d"), Limit::of(9));
    table->pin(a); // a busy: a transaction uses it
    table->pin(b); // b used again after c and d
    table->unpin(b);
    CounterEntry* e = ready_entry(table.get(), key_of("e"), Limit::of(9));
    EXPECT_EQ(e, c); // c's slot: idle since before d and b
    CounterEntry* f = ready_entry(table.get(), key_of("f"), Limit::of(9));
    EXPECT_EQ(f, d);
    CounterEntry* g = ready_entry(table.get(), key_of("g"), Limit::of(9));
    EXPECT_EQ(g, b);
    for (const char* gone : {"b", "c", "d"})
        EXPECT_EQ(table->find(key_of(gone)), nullptr) << gone;
    EXPECT_EQ(table->find(key_of("a")), a);
    EXPECT_EQ(table->find(key_of("e")), e);
    EXPECT_EQ(table->find(key_of("f")), f);
    EXPECT_EQ(table->find(key_of("g")), g);
    EXPECT_EQ(table->live(), 4u);
    // Now only the busy a and the three just loaded are left: e, f and g
    // went idle in that order.
    CounterEntry* h = ready_entry(table.get(), key_of("h"), Limit::of(9));
    EXPECT_EQ(h, e);
    EXPECT_EQ(table->find(key_of("a")), a);
}

TEST(CounterTable, AFullTableOfBusyEntriesRefusesToPlace)
{
    Block table(2);
    CounterEntry* a = ready_entry(table.get(), key_of("a"), Limit::of(9));
    CounterEntry* b = ready_entry(table.get(), key_of("b"), Limit::of(9));
    reserve(table.get(), a, 1);
    reserve(table.get(), b, 1);
    bool placed = true;
    EXPECT_EQ(table->find_or_place(key_of("c"), &placed), nullptr);
    EXPECT_FALSE(placed);
    EXPECT_EQ(a->reserved, 1); // nothing busy was touched
    EXPECT_EQ(b->reserved, 1);
}

TEST(CounterTable, LookupsFindKeysPastRemovedOnes)
{
    // In a table of 4 (8 index cells), keys share runs of cells; removing
    // one in the middle of a run must not hide the ones after it.
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

// A server meets new keys every billing period and evicts old ones; over
// its life far more keys come and go than the table holds.  Lookups run
// under the table's lock on every transaction's first use of a key, so they
// must stay as short as in a fresh table: a table that left a mark for each
// removed key (a tombstone) would end up walking all of its cells.
TEST(CounterTable, LookupsStayShortHoweverManyKeysComeAndGo)
{
    constexpr uint32_t capacity = 1000;
    Block table(capacity);
    uint32_t fresh = 0;
    for (int i = 0; i < 50 * static_cast<int>(capacity); ++i) {
        CounterEntry* e = ready_entry(table.get(), key_of("t" + std::to_string(i)), Limit::of(1));
        ASSERT_NE(e, nullptr);
        if (i == static_cast<int>(capacity) - 1)
            fresh = table->longest_probe();
    }
    EXPECT_EQ(table->live(), capacity);
    // At most half the cells in use: runs of a few dozen cells at worst.
    EXPECT_LE(fresh, 40u);
    EXPECT_LE(table->longest_probe(), 40u);
    // The last `capacity` keys are there, the ones before are not.
    for (int i = 49 * static_cast<int>(capacity); i < 50 * static_cast<int>(capacity); ++i)
        EXPECT_NE(table->find(key_of("t" + std::to_string(i))), nullptr) << i;
    for (int i = 48 * static_cast<int>(capacity); i < 49 * static_cast<int>(capacity); ++i)
        EXPECT_EQ(table->find(key_of("t" + std::to_string(i))), nullptr) << i;
}

TEST(CounterTable, TheIndexAgreesWithAModelUnderChurn)
{
    // Random places, removals and abandoned loads in a small table: every
    // key the model holds is found at its entry, no other key is found.
    Block table(16);
    std::mt19937 rng(20261204);
    std::map<std::string, CounterEntry*> model;
    for (int step = 0; step < 20000; ++step) {
        std::string tenant = "t" + std::to_string(rng() % 40);
        CounterEntry* e = table->find(key_of(tenant));
        auto held = model.find(tenant);
        ASSERT_EQ(e, held == model.end() ? nullptr : held->second) << "step " << step;
        switch (rng() % 3) {
        case 0: { // place (evicting when full), load or give up
            bool placed;
            e = table->find_or_place(key_of(tenant), &placed);
            ASSERT_NE(e, nullptr);
            if (!placed)
                break;
            for (auto it = model.begin(); it != model.end(); ++it)
                if (it->second == e) { // its slot was taken from an evicted key
                    model.erase(it);
                    break;
                }
            if (rng() % 4 == 0) {
                table->abandon_load(e);
            } else {
                table->finish_load(e, 0);
                table->unpin(e);
                model[tenant] = e;
            }
            break;
        }
        case 1:
            if (e != nullptr) {
                ASSERT_TRUE(table->remove_if_idle(e));
                model.erase(tenant);
            }
            break;
        default: // a transaction uses it
            if (e != nullptr) {
                table->pin(e);
                table->unpin(e);
            }
            break;
        }
        ASSERT_EQ(table->live(), model.size());
    }
    EXPECT_LE(table->longest_probe(), 16u);
}

TEST(CounterTable, ReleasesTakeEffectAtCommitAndNeverGoBelowZero)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("files"), Limit::of(10), 10);
    // Two transactions each try to give back 7 of the 10: only 10 in all.
    Own first{}, second{};
    EXPECT_EQ(release(table.get(), e, 7, &first), 7);
    EXPECT_EQ(release(table.get(), e, 7, &second), 3);
    // Nothing is free for others before the releases commit.
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::limit_reached);
    settle(table.get(), e, first, false); // the first aborts
    settle(table.get(), e, second, true); // the second commits
    EXPECT_EQ(e->committed, 7);
    EXPECT_EQ(e->releasing, 0);
    EXPECT_EQ(e->drawn, 0);
    EXPECT_EQ(reserve(table.get(), e, 3), AdmissionResult::admitted);
}

TEST(CounterTable, ATransactionsOwnReleaseMakesRoomForItself)
{
    // users: 5 of 5; one transaction deletes a user and adds another.
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("users"), Limit::of(5), 5);
    Own swap{};
    EXPECT_EQ(release(table.get(), e, 1, &swap), 1);
    EXPECT_EQ(table->reserve(e, 1, e->limit, 1).result, AdmissionResult::admitted);
    swap.reserved = 1;
    // Another transaction still finds no room.
    EXPECT_EQ(table->reserve(e, 1, e->limit, 0).result, AdmissionResult::limit_reached);
    settle(table.get(), e, swap, true);
    EXPECT_EQ(e->committed, 5);
    // And its own reservation can be given back before it commits.
    Own all{};
    EXPECT_EQ(release(table.get(), e, 5, &all), 5);
    settle(table.get(), e, all, true);
    EXPECT_EQ(reserve(table.get(), e, 2), AdmissionResult::admitted);
    Own own{2, 0, 0, 0};
    EXPECT_EQ(release(table.get(), e, 9, &own), 2); // its own 2, committed is 0
    settle(table.get(), e, own, true);
    EXPECT_EQ(e->committed, 0);
    EXPECT_EQ(e->drawn, 0);
}

// Near the bigint maximum a transaction that gave back some of its own
// reservation may not reserve past what the sums in flight can hold: the
// reservation would saturate, and settling would leave `reserved` below 0
// (free units for everyone after it) and `committed` wrapped.
TEST(CounterTable, OwnReleasesDoNotLetReservationsPassTheBigintRange)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("edge"), Limit::none(), 10);
    EXPECT_EQ(reserve(table.get(), e, INT64_MAX - 10), AdmissionResult::admitted);
    Own own{INT64_MAX - 10, 0, 0, 0};
    EXPECT_EQ(release(table.get(), e, 20, &own), 20);
    EXPECT_EQ(table->reserve(e, 15, e->limit, 20).result, AdmissionResult::overflow);
    EXPECT_EQ(e->reserved, INT64_MAX - 10);
    table->settle(e, INT64_MAX - 10, 20, true);
    EXPECT_EQ(e->reserved, 0);
    EXPECT_EQ(e->releasing, 0);
    EXPECT_EQ(e->committed, INT64_MAX - 20);
}

TEST(CounterTable, ForcedCorrectionsStayWithinTheBigintRange)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("fix_edge"), Limit::of(10), 5);
    EXPECT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted);
    int64_t drawn = 0;
    EXPECT_FALSE(table->force(e, INT64_MAX - 5, &drawn));
    EXPECT_EQ(e->reserved, 1);
    EXPECT_TRUE(table->force(e, INT64_MAX - 6, &drawn));
    table->settle(e, INT64_MAX - 5, 0, true);
    EXPECT_EQ(e->committed, INT64_MAX);
    EXPECT_EQ(e->reserved, 0);
}

TEST(CounterTable, ForcedCorrectionsIgnoreTheLimit)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("fix"), Limit::of(3), 2);
    int64_t drawn = 0;
    EXPECT_TRUE(table->force(e, 5, &drawn));
    table->settle(e, 5, 0, true);
    EXPECT_EQ(e->committed, 7);
    EXPECT_TRUE(table->force(e, -6, &drawn));
    EXPECT_EQ(e->releasing, 6);
    // A correction down draws on committed usage: another transaction's
    // release finds only what is left.
    EXPECT_EQ(drawn, 6);
    Own other{};
    EXPECT_EQ(release(table.get(), e, 5, &other), 1);
    settle(table.get(), e, other, false);
    table->settle(e, 0, 6, true, 0, false, 0, drawn);
    EXPECT_EQ(e->committed, 1);
    EXPECT_EQ(e->drawn, 0);
}

TEST(CounterTable, LoadsCanBeAbandonedAndRetried)
{
    Block table(4);
    bool placed;
    CounterEntry* e = table->find_or_place(key_of("x"), &placed);
    ASSERT_TRUE(placed);
    table->abandon_load(e);
    EXPECT_EQ(table->find(key_of("x")), nullptr);
    EXPECT_EQ(table->live(), 0u);
    CounterEntry* again = table->find_or_place(key_of("x"), &placed);
    EXPECT_TRUE(placed);
    EXPECT_EQ(again->pins, 1u);
    table->finish_load(again, 4);
    EXPECT_EQ(again->pins, 1u); // still the loader's
    EXPECT_FALSE(CounterTable::is_idle(*again));
    table->unpin(again);
    EXPECT_TRUE(CounterTable::is_idle(*again));
}

TEST(CounterTable, RandomTransactionsAgreeWithAModel)
{
    // A property test: eight "transactions" at a time reserve, release,
    // commit and abort on a handful of keys in a table small enough to
    // evict; reloads read the model of durable usage.  Whatever the order,
    // committed usage never exceeds the limit, never goes below 0, and always
    // equals the sum of what committed.
    constexpr int64_t limit = 40;
    struct Part {
        std::string tenant;
        int64_t reserved = 0;
        int64_t released = 0;
        int64_t drawn = 0;
    };
    struct Txn {
        std::map<std::string, Part> parts; // pinned entries
    };
    Block table(6);
    std::mt19937 rng(20261124);
    std::map<std::string, int64_t> durable;
    std::vector<Txn> txns(8);
    auto entry_for = [&](Txn& txn, const std::string& tenant) -> CounterEntry* {
        bool placed;
        CounterEntry* e = table->find_or_place(key_of(tenant), &placed);
        if (e == nullptr)
            return nullptr;
        if (placed) {
            table->finish_load(e, durable[tenant]); // keeps the loader's pin
            txn.parts[tenant].tenant = tenant;
        } else if (txn.parts.count(tenant) == 0) {
            if (e->state != CounterState::ready)
                return nullptr;
            table->pin(e);
            txn.parts[tenant].tenant = tenant;
        }
        return e;
    };
    auto end = [&](Txn& txn, bool commit) {
        for (auto& [tenant, part] : txn.parts) {
            CounterEntry* e = table->find(key_of(tenant));
            ASSERT_NE(e, nullptr) << "a pinned entry was evicted";
            if (commit)
                durable[tenant] += part.reserved - part.released;
            table->settle(e, part.reserved, part.released, commit, 0, false, 0, part.drawn);
            table->unpin(e);
            ASSERT_EQ(e->committed, durable[tenant]);
            ASSERT_GE(e->committed, 0);
            ASSERT_LE(e->committed, limit);
        }
        txn.parts.clear();
    };
    for (int step = 0; step < 50000; ++step) {
        Txn& txn = txns[rng() % txns.size()];
        std::string tenant = "t" + std::to_string(rng() % 10);
        switch (rng() % 6) {
        case 0:
        case 1:
        case 2: {
            CounterEntry* e = entry_for(txn, tenant);
            if (e == nullptr)
                break;
            Part& part = txn.parts[tenant];
            int64_t amount = 1 + rng() % 5;
            if (table->reserve(e, amount, Limit::of(limit), part.released).result ==
                AdmissionResult::admitted)
                part.reserved += amount;
            break;
        }
        case 3: {
            CounterEntry* e = entry_for(txn, tenant);
            if (e == nullptr)
                break;
            Part& part = txn.parts[tenant];
            Own own{part.reserved, part.released, part.drawn, 0};
            part.released += table->release(e, 1 + rng() % 5, &own);
            part.drawn = own.drawn;
            break;
        }
        case 4:
            end(txn, true);
            break;
        default:
            end(txn, false);
            break;
        }
    }
    for (Txn& txn : txns)
        end(txn, true);
    for (uint32_t i = 0; i < table->capacity(); ++i) {
        const CounterEntry* e = table->entry_at(i);
        if (e->state == CounterState::ready) {
            EXPECT_EQ(e->reserved, 0);
            EXPECT_EQ(e->releasing, 0);
            EXPECT_EQ(e->drawn, 0);
            EXPECT_EQ(e->pins, 0u);
        }
    }
}

// Usage alerts need each committing transaction to know where its change
// starts, in one order, even while earlier ones are not settled yet.
TEST(CounterTable, CommittingTransactionsGetConsecutiveUsageRanges)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 7);
    table->pin(e);
    ASSERT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted); // T1
    ASSERT_EQ(reserve(table.get(), e, 2), AdmissionResult::admitted); // T2
    EXPECT_EQ(table->begin_commit(e, 1), 7);                          // T1: 7 -> 8
    EXPECT_EQ(table->begin_commit(e, 2), 8); // T2: 8 -> 10, before T1 settled
    table->settle(e, 2, 0, true, 2);         // T2 settles first
    table->settle(e, 1, 0, true, 1);
    EXPECT_EQ(e->committed, 10);
    EXPECT_EQ(e->committing, 0);
    EXPECT_EQ(e->reserved, 0);
}

TEST(CounterTable, AnAbortAfterBeginCommitTakesItsRangeBack)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 3);
    table->pin(e);
    ASSERT_EQ(reserve(table.get(), e, 4), AdmissionResult::admitted);
    EXPECT_EQ(table->begin_commit(e, 4), 3);
    table->settle(e, 4, 0, false, 4);
    EXPECT_EQ(e->committed, 3);
    EXPECT_EQ(e->committing, 0);
    ASSERT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted);
    EXPECT_EQ(table->begin_commit(e, 1), 3);
}

// A row inserted by a transaction that has committed but not yet settled is
// visible: deleting it must give its whole size back.
TEST(CounterTable, ReleasingStoredRowsCountsReservationsNotYetSettled)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme", "storage"), Limit::of(1000), 0);
    table->pin(e);
    ASSERT_EQ(reserve(table.get(), e, 446), AdmissionResult::admitted); // inserter, committing
    // The deleter sees the row; the inserter's settle has not run yet.
    Own deleter{};
    EXPECT_EQ(release(table.get(), e, 446, &deleter, true), 446);
    table->settle(e, 446, 0, true); // the inserter settles
    settle(table.get(), e, deleter, true);
    EXPECT_EQ(e->committed, 0);
    EXPECT_EQ(e->drawn, 0);
    // A caller's own release (release_quota) still counts only what is
    // committed and its own reservations.
    ASSERT_EQ(reserve(table.get(), e, 100), AdmissionResult::admitted);
    Own caller{};
    EXPECT_EQ(release(table.get(), e, 100, &caller, false), 0);
}

// The barrier of a schedule change (the tenant's period moved): a
// transaction that passed before the move is counted until it settles, one
// that had not yet passed is stopped until it has looked at its period again.
TEST(CounterTable, AMoveStopsTransactionsThatHaveNotPassedYet)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 3);
    table->pin(e);
    ASSERT_EQ(reserve(table.get(), e, 1), AdmissionResult::admitted); // T1
    ASSERT_EQ(reserve(table.get(), e, 2), AdmissionResult::admitted); // T2
    EXPECT_TRUE(table->pass(e, 0));                                   // T1, about to commit
    uint32_t epoch = table->begin_move(e, 1234);
    EXPECT_EQ(e->mover, 1234u);
    EXPECT_EQ(e->passing, 1u);       // the mover waits for T1
    EXPECT_FALSE(table->pass(e, 0)); // T2 must look at its period again
    EXPECT_EQ(e->passing, 1u);
    table->settle(e, 1, 0, true, 0, true); // T1 commits
    EXPECT_EQ(e->passing, 0u);
    EXPECT_EQ(e->committed, 4);
    EXPECT_TRUE(table->pass(e, epoch)); // T2 looked: its period did not move
    table->unpass(e);                   // ...but it has another key to check first
    EXPECT_EQ(e->passing, 0u);
    EXPECT_TRUE(table->pass(e, epoch));
    EXPECT_FALSE(table->pass(e, epoch + 1));
    table->settle(e, 2, 0, true, 0, true);
    EXPECT_EQ(e->passing, 0u);
    EXPECT_EQ(e->committed, 6);
}

TEST(CounterTable, AReloadedEntryHasNoMoveInFlight)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10), 3);
    table->begin_move(e, 77);
    ASSERT_TRUE(table->remove_if_idle(e));
    CounterEntry* again = ready_entry(table.get(), key_of("acme"), Limit::of(10), 3);
    EXPECT_EQ(again->move_epoch, 0u);
    EXPECT_EQ(again->mover, 0u);
    EXPECT_TRUE(table->pass(again, 0));
}

TEST(CounterTable, MoveEpochsSkipZeroWhenTheyWrap)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("acme"), Limit::of(10));
    e->move_epoch = UINT32_MAX;
    EXPECT_EQ(table->begin_move(e, 5), 1u);
    EXPECT_FALSE(table->pass(e, 0));
}

// Releases covered by the releasing transaction's own reservations draw
// nothing on committed usage: two transactions that each consume and give
// back on a key with nothing committed both give back all (until
// 2026-12-05 the second gave back nothing, every release in flight counting
// as drawn, and its consumption stayed counted for good).  What they give
// back beyond their own still comes out of committed usage, at most all of
// it between them.
TEST(CounterTable, ReleasesCoveredByOwnReservationsDrawNothingOnCommittedUsage)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("r1", "storage"), Limit::of(12000), 0);
    Own a{}, b{};
    ASSERT_EQ(reserve(table.get(), e, 50), AdmissionResult::admitted);
    a.reserved = 50;
    ASSERT_EQ(reserve(table.get(), e, 50), AdmissionResult::admitted);
    b.reserved = 50;
    EXPECT_EQ(release(table.get(), e, 50, &a), 50);
    EXPECT_EQ(release(table.get(), e, 50, &b), 50);
    EXPECT_EQ(e->drawn, 0);
    settle(table.get(), e, b, true);
    settle(table.get(), e, a, true);
    EXPECT_EQ(e->committed, 0);

    // 30 committed: each may draw on it beyond its own, 30 between them.
    Own fill{};
    ASSERT_EQ(reserve(table.get(), e, 30), AdmissionResult::admitted);
    fill.reserved = 30;
    settle(table.get(), e, fill, true);
    Own c{}, d{};
    ASSERT_EQ(reserve(table.get(), e, 10), AdmissionResult::admitted);
    c.reserved = 10;
    EXPECT_EQ(release(table.get(), e, 30, &c), 30); // its own 10, and 20 drawn
    EXPECT_EQ(c.drawn, 20);
    EXPECT_EQ(release(table.get(), e, 30, &d), 10); // what is left to draw
    EXPECT_EQ(e->drawn, 30);
    settle(table.get(), e, c, true);
    settle(table.get(), e, d, true);
    EXPECT_EQ(e->committed, 0);
    EXPECT_EQ(e->drawn, 0);
}

// What the caller reserved for rows ON CONFLICT may still skip is nothing
// to give back against: a release draws on committed usage instead, and
// once the reservation is taken back (settled as aborted) committed usage
// is not below 0 (until 2026-12-05 the release counted on it, and a gauge
// then went to -100).  Of stored rows, the spare leaves it out too.
TEST(CounterTable, ReleasesDoNotCountOnUnconfirmedReservations)
{
    Block table(8);
    CounterEntry* e = ready_entry(table.get(), key_of("t1", "storage"), Limit::of(1000), 0);
    Own a{};
    ASSERT_EQ(reserve(table.get(), e, 100), AdmissionResult::admitted);
    a.reserved = 100;
    a.unconfirmed = 100;
    EXPECT_EQ(release(table.get(), e, 100, &a), 0);
    table->settle(e, 100, 0, false); // taken back
    a.reserved = a.unconfirmed = 0;
    settle(table.get(), e, a, true);
    EXPECT_EQ(e->committed, 0);

    // 50 committed: the release draws those, and only those.
    Own fill{};
    ASSERT_EQ(reserve(table.get(), e, 50), AdmissionResult::admitted);
    fill.reserved = 50;
    settle(table.get(), e, fill, true);
    Own b{};
    ASSERT_EQ(reserve(table.get(), e, 100), AdmissionResult::admitted);
    b.reserved = 100;
    b.unconfirmed = 100;
    EXPECT_EQ(release(table.get(), e, 100, &b), 50);
    EXPECT_EQ(b.drawn, 50);
    table->settle(e, 100, 0, false);
    b.reserved = b.unconfirmed = 0;
    settle(table.get(), e, b, true);
    EXPECT_EQ(e->committed, 0);
    EXPECT_EQ(e->drawn, 0);

    // Rows stored by a transaction that committed and has not settled yet
    // (its 100 reserved): given back in full, but not against the caller's
    // unconfirmed 100.
    Own inserter{}, c{};
    ASSERT_EQ(reserve(table.get(), e, 100), AdmissionResult::admitted);
    inserter.reserved = 100;
    ASSERT_EQ(reserve(table.get(), e, 100), AdmissionResult::admitted);
    c.reserved = 100;
    c.unconfirmed = 100;
    EXPECT_EQ(release(table.get(), e, 150, &c, true), 100);
    table->settle(e, 100, 0, false);
    c.reserved = c.unconfirmed = 0;
    settle(table.get(), e, inserter, true);
    settle(table.get(), e, c, true);
    EXPECT_EQ(e->committed, 0);
}
