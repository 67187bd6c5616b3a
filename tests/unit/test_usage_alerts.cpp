// Usage alerts (src/core/usage_alerts): the thresholds setting is parsed or
// rejected clearly, and a consumption crosses exactly the thresholds it
// takes usage over; a move of usage to another period alerts for what the
// moving transaction consumed, and carries the rest along.
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "usage_alerts.hpp"

using namespace zechat::billing;

namespace {

AlertThresholds thresholds_of(const char* text)
{
    ThresholdsParse parse = parse_alert_thresholds(text);
    EXPECT_EQ(parse.problem, ThresholdsProblem::none) << text;
    return parse.thresholds;
}

} // namespace

TEST(AlertThresholds, TheDefaultListParsesInOrder)
{
    AlertThresholds t = thresholds_of("80,90,100");
    ASSERT_EQ(t.count, 3);
    EXPECT_EQ(t.percent[0], 80);
    EXPECT_EQ(t.percent[1], 90);
    EXPECT_EQ(t.percent[2], 100);
}

TEST(AlertThresholds, SpacesAndAnyOrderAreAcceptedAndSorted)
{
    AlertThresholds t = thresholds_of(" 100 , 50,75 ");
    ASSERT_EQ(t.count, 3);
    EXPECT_EQ(t.percent[0], 50);
    EXPECT_EQ(t.percent[1], 75);
    EXPECT_EQ(t.percent[2], 100);
}

TEST(AlertThresholds, AnEmptyListMeansNoAlerts)
{
    EXPECT_EQ(thresholds_of("").count, 0);
    EXPECT_EQ(thresholds_of("  ").count, 0);
}

TEST(AlertThresholds, BadListsAreRejectedWithTheirReason)
{
    EXPECT_EQ(parse_alert_thresholds("80,abc").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("80,,90").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("80,").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("8 0").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("-10").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("80.5").problem, ThresholdsProblem::not_a_number);
    EXPECT_EQ(parse_alert_thresholds("0").problem, ThresholdsProblem::out_of_range);
    EXPECT_EQ(parse_alert_thresholds("101").problem, ThresholdsProblem::out_of_range);
    EXPECT_EQ(parse_alert_thresholds("99999999999999999999").problem,
              ThresholdsProblem::out_of_range);
    EXPECT_EQ(parse_alert_thresholds("80,90,80").problem, ThresholdsProblem::duplicate);
    EXPECT_EQ(parse_alert_thresholds("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17").problem,
              ThresholdsProblem::too_many);
    EXPECT_EQ(thresholds_of("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16").count, 16);
}

TEST(CrossedThresholds, AConsumptionCrossesWhatItTakesUsageOver)
{
    AlertThresholds t = thresholds_of("80,90,100");
    Limit limit = Limit::of(10);
    EXPECT_EQ(crossed_thresholds(7, 8, limit, t), 0b001u);  // 70 % -> 80 %: at counts
    EXPECT_EQ(crossed_thresholds(8, 9, limit, t), 0b010u);  // 80 % was crossed before
    EXPECT_EQ(crossed_thresholds(0, 10, limit, t), 0b111u); // all at once
    EXPECT_EQ(crossed_thresholds(3, 7, limit, t), 0u);
    EXPECT_EQ(crossed_thresholds(10, 10, limit, t), 0u);    // nothing consumed
    EXPECT_EQ(crossed_thresholds(9, 8, limit, t), 0u);      // a release never alerts
}

TEST(CrossedThresholds, ComparisonsAreExactNotRounded)
{
    AlertThresholds t = thresholds_of("80");
    Limit limit = Limit::of(1001); // 80 % is 800.8
    EXPECT_EQ(crossed_thresholds(799, 800, limit, t), 0u);
    EXPECT_EQ(crossed_thresholds(800, 801, limit, t), 1u);
}

TEST(CrossedThresholds, UnlimitedAndZeroLimitsNeverAlert)
{
    AlertThresholds t = thresholds_of("80,90,100");
    EXPECT_EQ(crossed_thresholds(0, 1000, Limit::none(), t), 0u);
    EXPECT_EQ(crossed_thresholds(0, 5, Limit::of(0), t), 0u);
}

TEST(CrossedThresholds, HugeValuesDoNotOverflow)
{
    AlertThresholds t = thresholds_of("80,100");
    const int64_t max = std::numeric_limits<int64_t>::max();
    Limit limit = Limit::of(max);
    EXPECT_EQ(crossed_thresholds(0, max, limit, t), 0b11u);
    EXPECT_EQ(crossed_thresholds(max / 10 * 8 + max % 10, max - 1, limit, t), 0u);
}

// A move of a key's usage to another period: what the moving transaction
// consumed in the old period (up to what moves) alerts in the new one, the
// rest is carried along.
TEST(AlertCarry, WhatTheTransactionConsumedIsNotCarried)
{
    AlertCarry carry = alert_carry_across_move(30, 100);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 70);
    carry = alert_carry_across_move(100, 100);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 0);
}

TEST(AlertCarry, NothingConsumedOrGivenBackCarriesEverything)
{
    AlertCarry carry = alert_carry_across_move(0, 100);
    EXPECT_FALSE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 100);
    // A transaction that gave back more than it consumed.
    carry = alert_carry_across_move(-40, 100);
    EXPECT_FALSE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 100);
}

TEST(AlertCarry, AtMostWhatMovesIsConsumedHere)
{
    // Consumed more than moves (rows not confirmed yet stay behind).
    AlertCarry carry = alert_carry_across_move(150, 100);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 0);
}

TEST(AlertCarry, HoldsTheBigintEdges)
{
    constexpr int64_t max = std::numeric_limits<int64_t>::max();
    constexpr int64_t min = std::numeric_limits<int64_t>::min();
    AlertCarry carry = alert_carry_across_move(max, max);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 0);
    carry = alert_carry_across_move(min, max);
    EXPECT_FALSE(carry.consumed_here);
    EXPECT_EQ(carry.carried, max);
    carry = alert_carry_across_move(1, max);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, max - 1);
    carry = alert_carry_across_move(max, 1);
    EXPECT_TRUE(carry.consumed_here);
    EXPECT_EQ(carry.carried, 0);
}

TEST(AlertCarry, NothingMovedCarriesNothing)
{
    for (int64_t moved : {int64_t(0), int64_t(-5)}) {
        AlertCarry carry = alert_carry_across_move(30, moved);
        EXPECT_FALSE(carry.consumed_here);
        EXPECT_EQ(carry.carried, 0);
    }
}
