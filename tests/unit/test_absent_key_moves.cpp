// Moves of keys without a counter (src/core/absent_key_moves): a counter
// placed while one is recorded starts marked by its mover; entries of a
// backend go with its transaction or the subtransaction that recorded them;
// past the key slots a mover stands for its whole database, one at a time;
// a mover counts within 2^31 transaction ids of the next (within_xid_horizon).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absent_key_moves.hpp"

using namespace zechat::billing;

namespace {

class Moves {
public:
    explicit Moves(uint32_t capacity) : bytes_(AbsentKeyMoves::bytes_for(capacity) / 8 + 1)
    {
        moves_ = AbsentKeyMoves::format(bytes_.data(), capacity);
    }
    AbsentKeyMoves* operator->() { return moves_; }

private:
    std::vector<uint64_t> bytes_;
    AbsentKeyMoves* moves_;
};

CounterKey key_of(const std::string& tenant, int64_t period = 1000, uint32_t database = 5)
{
    return make_counter_key(database, 77, tenant.data(), tenant.size(), "messages", 8, period);
}

} // namespace

TEST(AbsentKeyMoves, EmptyMarksNothing)
{
    Moves moves(16);
    EXPECT_EQ(moves->used(), 0u);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 0u);
}

TEST(AbsentKeyMoves, RecordedKeyMarksOnlyThatKey)
{
    Moves moves(16);
    uint64_t other = 0;
    EXPECT_EQ(moves->record(key_of("acme"), 501, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 501u);
    EXPECT_EQ(moves->mover_for(key_of("acme", 2000)), 0u); // another period
    EXPECT_EQ(moves->mover_for(key_of("other")), 0u);
    EXPECT_EQ(moves->mover_for(key_of("acme", 1000, 6)), 0u); // another database
}

TEST(AbsentKeyMoves, SameBackendRecordsAKeyOnce)
{
    Moves moves(16);
    uint64_t other = 0;
    EXPECT_EQ(moves->record(key_of("acme"), 501, 3, &other), AbsentMoveRecorded::recorded);
    // A later subtransaction of the same transaction: the earlier entry
    // (an ancestor, or a sibling committed into it) covers it.
    EXPECT_EQ(moves->record(key_of("acme"), 502, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->used(), 1u);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 501u);
}

TEST(AbsentKeyMoves, LatestRecordingWins)
{
    Moves moves(16);
    uint64_t other = 0;
    // A mover that ended (its entry not yet removed) and the one after it.
    EXPECT_EQ(moves->record(key_of("acme"), 900, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("acme"), 700, 4, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 700u);
    moves->forget_owner(4);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 900u);
}

TEST(AbsentKeyMoves, ForgetOwnerAndMover)
{
    Moves moves(16);
    uint64_t other = 0;
    EXPECT_EQ(moves->record(key_of("a"), 501, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("b"), 502, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("c"), 601, 4, &other), AbsentMoveRecorded::recorded);
    moves->forget_mover(3, 502); // its subtransaction rolled back
    EXPECT_EQ(moves->mover_for(key_of("b")), 0u);
    EXPECT_EQ(moves->mover_for(key_of("a")), 501u);
    moves->forget_mover(4, 501); // not backend 4's
    EXPECT_EQ(moves->mover_for(key_of("a")), 501u);
    moves->forget_owner(3);
    EXPECT_EQ(moves->mover_for(key_of("a")), 0u);
    EXPECT_EQ(moves->mover_for(key_of("c")), 601u);
    EXPECT_EQ(moves->used(), 1u);
    // After that the slots are reused.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(moves->record(key_of("k" + std::to_string(i)), 700, 5, &other),
                  AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->used(), 6u);
}

TEST(AbsentKeyMoves, FullKeySlotsAskForTheDatabase)
{
    const uint32_t capacity = AbsentKeyMoves::database_reserve + 4;
    Moves moves(capacity);
    uint64_t other = 0;
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(moves->record(key_of("t" + std::to_string(i)), 501, 3, &other),
                  AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("t4"), 501, 3, &other), AbsentMoveRecorded::need_database);
    EXPECT_EQ(moves->record_database(5, 501, 3, &other), AbsentMoveRecorded::recorded);
    // Every key of database 5 is marked now, and later ones are covered.
    EXPECT_EQ(moves->mover_for(key_of("anyone", 42)), 501u);
    EXPECT_EQ(moves->mover_for(key_of("anyone", 42, 6)), 0u);
    EXPECT_EQ(moves->record(key_of("t5"), 501, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record_database(5, 502, 3, &other), AbsentMoveRecorded::recorded);
    // Another backend's database entry for the same database: it waits.
    EXPECT_EQ(moves->record_database(5, 801, 8, &other), AbsentMoveRecorded::wait_for_other);
    EXPECT_EQ(other, 501u);
    // Another database has its own.
    EXPECT_EQ(moves->record_database(6, 801, 8, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->mover_for(key_of("anyone", 42, 6)), 801u);
}

TEST(AbsentKeyMoves, AnEntryForTheKeyWinsOverTheDatabase)
{
    const uint32_t capacity = AbsentKeyMoves::database_reserve + 4;
    Moves moves(capacity);
    uint64_t other = 0;
    EXPECT_EQ(moves->record(key_of("acme"), 601, 4, &other), AbsentMoveRecorded::recorded);
    // A database-wide mover recorded later does not hide the mover of the
    // key's tenant (it holds the tenant's subscription; the database-wide
    // one cannot move that tenant before it is done).
    EXPECT_EQ(moves->record_database(5, 501, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 601u);
    EXPECT_EQ(moves->mover_for(key_of("other")), 501u);
    // The database-wide mover gets to the key: it waits until the key's
    // entry of the other backend is gone, then its own entry covers it.
    EXPECT_EQ(moves->record(key_of("acme"), 501, 3, &other), AbsentMoveRecorded::wait_for_other);
    EXPECT_EQ(other, 601u);
    moves->forget_owner(4);
    EXPECT_EQ(moves->record(key_of("acme"), 501, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->mover_for(key_of("acme")), 501u);
}

TEST(AbsentKeyMoves, TheDatabaseEntryReplacesTheBackendsKeyEntries)
{
    const uint32_t capacity = AbsentKeyMoves::database_reserve + 5;
    Moves moves(capacity);
    uint64_t other = 0;
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(moves->record(key_of("t" + std::to_string(i)), 501, 3, &other),
                  AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("shared"), 701, 7, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("shared"), 502, 3, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("t9", 1000, 6), 501, 3, &other),
              AbsentMoveRecorded::need_database);
    EXPECT_EQ(moves->used(), 5u);
    EXPECT_EQ(moves->record(key_of("t3"), 501, 3, &other), AbsentMoveRecorded::need_database);
    EXPECT_EQ(moves->record_database(5, 500, 3, &other), AbsentMoveRecorded::recorded);
    // Its entries for single keys of database 5 went, but the one for a key
    // another backend also has an entry for (which would win otherwise).
    EXPECT_EQ(moves->used(), 3u);
    EXPECT_EQ(moves->mover_for(key_of("t0")), 500u);
    EXPECT_EQ(moves->mover_for(key_of("shared")), 502u);
    // Room again for other backends' single keys.
    EXPECT_EQ(moves->record(key_of("else"), 801, 8, &other), AbsentMoveRecorded::recorded);
}

TEST(AbsentKeyMoves, NoSlotForADatabaseWaitsForAnother)
{
    const uint32_t capacity = AbsentKeyMoves::database_reserve;
    Moves moves(capacity);
    uint64_t other = 0;
    for (uint32_t db = 1; db <= capacity; ++db)
        EXPECT_EQ(moves->record_database(db, 100 + db, db, &other), AbsentMoveRecorded::recorded);
    EXPECT_EQ(moves->record(key_of("acme", 1, 99), 900, 99, &other),
              AbsentMoveRecorded::need_database);
    EXPECT_EQ(moves->record_database(99, 900, 99, &other), AbsentMoveRecorded::wait_for_other);
    EXPECT_GT(other, 100u);
    EXPECT_LE(other, 100u + capacity);
}

// A mover within 2^31 transaction ids of the next one may still run, or its
// end may not be seen yet; an older one ended long ago.
TEST(XidHorizon, CoversTheLast2To31Ids)
{
    constexpr uint64_t window = uint64_t(1) << 31;
    const uint64_t next = (uint64_t(7) << 32) + 1000; // an epoch past 0
    EXPECT_TRUE(within_xid_horizon(next, next - 1));
    EXPECT_TRUE(within_xid_horizon(next, next));
    EXPECT_TRUE(within_xid_horizon(next, next - (window - 1)));
    EXPECT_FALSE(within_xid_horizon(next, next - window));
    EXPECT_FALSE(within_xid_horizon(next, next - window - 1));
    EXPECT_FALSE(within_xid_horizon(next, 3));
}

TEST(XidHorizon, CountsAcrossEpochs)
{
    constexpr uint64_t window = uint64_t(1) << 31;
    // The 32-bit id wrapped between the mover and the next id.
    const uint64_t next = (uint64_t(5) << 32) + 10;
    EXPECT_TRUE(within_xid_horizon(next, (uint64_t(4) << 32) + 0xFFFFFFF0u));
    EXPECT_TRUE(within_xid_horizon(next, next - (window - 1)));
    EXPECT_FALSE(within_xid_horizon(next, next - window));
    // The same 32-bit id an epoch earlier is another transaction.
    EXPECT_FALSE(within_xid_horizon(next, next - (uint64_t(1) << 32)));
}

TEST(XidHorizon, AMoverNotAssignedYetIsOutside)
{
    const uint64_t next = uint64_t(1) << 40;
    EXPECT_FALSE(within_xid_horizon(next, next + 1));
    EXPECT_FALSE(within_xid_horizon(next, UINT64_MAX));
    // From the first ids on.
    EXPECT_TRUE(within_xid_horizon(3, 3));
    EXPECT_FALSE(within_xid_horizon(3, 4));
    EXPECT_TRUE(within_xid_horizon(uint64_t(1) << 31, 1));
    EXPECT_FALSE(within_xid_horizon(uint64_t(1) << 31, 0));
}
