// Lock mode's net change (src/core/net_change): a transaction keeps only the
// net of what it consumed and released on a key, which fits in a bigint
// wherever usage does, while the two sums apart may not.
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "net_change.hpp"

using namespace zechat::billing;

namespace {

constexpr int64_t max = std::numeric_limits<int64_t>::max();

// A key's change, kept as lock mode keeps it on an entry or a part.
struct Change {
    int64_t consumed = 0;
    int64_t released = 0;
};

// Adds `delta` as lock mode does (add_pending_usage): false, and the change
// left as it was, when the net does not fit.
bool add(Change* change, int64_t delta)
{
    int64_t net;
    if (!add_to_net_change(change->consumed, change->released, delta, &net))
        return false;
    set_net_change(&change->consumed, &change->released, net);
    return true;
}

} // namespace

TEST(NetChange, IsKeptAsConsumedOrAsReleasedTheOtherZero)
{
    Change change;
    set_net_change(&change.consumed, &change.released, 5);
    EXPECT_EQ(change.consumed, 5);
    EXPECT_EQ(change.released, 0);
    set_net_change(&change.consumed, &change.released, -7);
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, 7);
    set_net_change(&change.consumed, &change.released, 0);
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, 0);
    EXPECT_EQ(net_change(5, 0), 5);
    EXPECT_EQ(net_change(0, 7), -7);
    EXPECT_EQ(net_change(5, 7), -2);
}

TEST(NetChange, HoldsTheBigintEdgesEitherWay)
{
    Change change;
    set_net_change(&change.consumed, &change.released, max);
    EXPECT_EQ(change.consumed, max);
    EXPECT_EQ(change.released, 0);
    EXPECT_EQ(net_change(change.consumed, change.released), max);
    set_net_change(&change.consumed, &change.released, -max);
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, max);
    EXPECT_EQ(net_change(change.consumed, change.released), -max);
}

TEST(NetChange, AnAdditionPastTheBigintRangeIsRefusedAndChangesNothing)
{
    Change change;
    ASSERT_TRUE(add(&change, max));
    EXPECT_FALSE(add(&change, 1));
    EXPECT_EQ(change.consumed, max);
    EXPECT_EQ(change.released, 0);
    int64_t net = 0;
    EXPECT_FALSE(add_to_net_change(0, max, std::numeric_limits<int64_t>::min(), &net));
    EXPECT_TRUE(add_to_net_change(max, 0, -max, &net));
    EXPECT_EQ(net, 0);
}

TEST(NetChange, GivingBackTheMaximumThenConsumingOneFits)
{
    // Usage at the maximum, all given back, then 1 consumed and given back:
    // the sums apart would be 1 consumed and max + 1 released, past the
    // bigint range; the net never leaves it.
    Change change;
    ASSERT_TRUE(add(&change, -max));
    EXPECT_EQ(change.released, max);
    ASSERT_TRUE(add(&change, 1));
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, max - 1);
    ASSERT_TRUE(add(&change, -1));
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, max);
}

TEST(NetChange, OppositeChangesCancel)
{
    Change change;
    ASSERT_TRUE(add(&change, max));
    ASSERT_TRUE(add(&change, -max));
    EXPECT_EQ(change.consumed, 0);
    EXPECT_EQ(change.released, 0);

    // Two parts one after the other (a subtransaction handed to its parent):
    // the outer gave back the maximum, the inner took it again.
    Change outer{0, max};
    Change inner{max, 0};
    set_net_change(&outer.consumed, &outer.released,
                   net_change(outer.consumed, outer.released) +
                       net_change(inner.consumed, inner.released));
    EXPECT_EQ(outer.consumed, 0);
    EXPECT_EQ(outer.released, 0);

    // A part rolled back: what is left is the net before it.
    Change entry{3, 0};
    Change part{0, 10};
    ASSERT_TRUE(add(&entry, -10));
    set_net_change(&entry.consumed, &entry.released,
                   net_change(entry.consumed, entry.released) -
                       net_change(part.consumed, part.released));
    EXPECT_EQ(entry.consumed, 3);
    EXPECT_EQ(entry.released, 0);
}
