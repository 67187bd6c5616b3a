// The admission arithmetic, percent and status rules (src/core/quota_rules).
#include <cstdint>

#include <gtest/gtest.h>

#include "quota_rules.hpp"

using namespace zechat::billing;

namespace {
constexpr int64_t max64 = INT64_MAX;
} // namespace

TEST(EffectiveLimit, AnOverrideReplacesThePlanLimit)
{
    Limit l = effective_limit({true, Limit::of(50)}, {true, Limit::of(10)});
    EXPECT_FALSE(l.unlimited);
    EXPECT_EQ(l.value, 50);
}

TEST(EffectiveLimit, AnUnlimitedOverrideBeatsALimitedPlan)
{
    EXPECT_TRUE(effective_limit({true, Limit::none()}, {true, Limit::of(10)}).unlimited);
}

TEST(EffectiveLimit, AZeroOverrideBlocksAnUnlimitedPlan)
{
    Limit l = effective_limit({true, Limit::of(0)}, {true, Limit::none()});
    EXPECT_FALSE(l.unlimited);
    EXPECT_EQ(l.value, 0);
}

TEST(EffectiveLimit, WithoutOverrideThePlanLimitHolds)
{
    EXPECT_TRUE(effective_limit({false, Limit::of(99)}, {true, Limit::none()}).unlimited);
    EXPECT_EQ(effective_limit({false, Limit::none()}, {true, Limit::of(7)}).value, 7);
}

TEST(EffectiveLimit, AResourceThePlanDoesNotIncludeHasLimitZero)
{
    Limit l = effective_limit({false, Limit::none()}, {false, Limit::none()});
    EXPECT_FALSE(l.unlimited);
    EXPECT_EQ(l.value, 0);
}

TEST(Admit, ConsumptionWithinTheLimitIsAdmitted)
{
    Admission a = admit(3, Limit::of(10), 2);
    EXPECT_EQ(a.result, AdmissionResult::admitted);
    EXPECT_EQ(a.new_used, 5);
}

TEST(Admit, ReachingTheLimitExactlyIsAdmitted)
{
    Admission a = admit(9, Limit::of(10), 1);
    EXPECT_EQ(a.result, AdmissionResult::admitted);
    EXPECT_EQ(a.new_used, 10);
}

TEST(Admit, OneOverTheLimitIsRefusedAndChangesNothing)
{
    Admission a = admit(10, Limit::of(10), 1);
    EXPECT_EQ(a.result, AdmissionResult::limit_reached);
    EXPECT_EQ(a.new_used, 10);
}

TEST(Admit, AnOvershootIsRefusedWholeEvenIfPartWouldFit)
{
    EXPECT_EQ(admit(8, Limit::of(10), 3).result, AdmissionResult::limit_reached);
}

TEST(Admit, LimitZeroRefusesEverything)
{
    EXPECT_EQ(admit(0, Limit::of(0), 1).result, AdmissionResult::limit_reached);
}

TEST(Admit, UsageAboveALoweredLimitRefuses)
{
    EXPECT_EQ(admit(150, Limit::of(100), 1).result, AdmissionResult::limit_reached);
}

TEST(Admit, UnlimitedAdmitsUpToTheBigintRange)
{
    Admission a = admit(max64 - 1, Limit::none(), 1);
    EXPECT_EQ(a.result, AdmissionResult::admitted);
    EXPECT_EQ(a.new_used, max64);
}

TEST(Admit, UnlimitedPastTheBigintRangeIsAnOverflowNotAWrap)
{
    Admission a = admit(max64, Limit::none(), 1);
    EXPECT_EQ(a.result, AdmissionResult::overflow);
    EXPECT_EQ(a.new_used, max64);
    EXPECT_EQ(admit(max64, Limit::none(), max64).result, AdmissionResult::overflow);
}

TEST(Admit, LimitAtTheBigintMaximumIsExact)
{
    EXPECT_EQ(admit(max64 - 5, Limit::of(max64), 5).result, AdmissionResult::admitted);
    EXPECT_EQ(admit(max64 - 5, Limit::of(max64), 6).result, AdmissionResult::limit_reached);
    EXPECT_EQ(admit(max64, Limit::of(max64), max64).result, AdmissionResult::limit_reached);
}

TEST(Release, NeverGoesBelowZero)
{
    EXPECT_EQ(usage_after_release(10, 3), 7);
    EXPECT_EQ(usage_after_release(10, 10), 0);
    EXPECT_EQ(usage_after_release(10, 11), 0);
    EXPECT_EQ(usage_after_release(0, max64), 0);
    EXPECT_EQ(usage_after_release(max64, max64), 0);
    EXPECT_EQ(usage_after_release(max64, 1), max64 - 1);
}

TEST(Remaining, IsNeverNegative)
{
    EXPECT_EQ(remaining_under(3, Limit::of(10)), 7);
    EXPECT_EQ(remaining_under(10, Limit::of(10)), 0);
    EXPECT_EQ(remaining_under(150, Limit::of(100)), 0);
    EXPECT_EQ(remaining_under(0, Limit::of(max64)), max64);
}

TEST(Percent, IsInHundredthsRoundedHalfUp)
{
    EXPECT_EQ(percent_hundredths(0, Limit::of(10)), 0);
    EXPECT_EQ(percent_hundredths(1, Limit::of(3)), 3333);
    EXPECT_EQ(percent_hundredths(2, Limit::of(3)), 6667);
    EXPECT_EQ(percent_hundredths(8, Limit::of(10)), 8000);
    EXPECT_EQ(percent_hundredths(1, Limit::of(80000)), 0); // 0.00125 % -> 0.00
    EXPECT_EQ(percent_hundredths(1, Limit::of(20000)), 1); // 0.005 %  -> 0.01
    EXPECT_EQ(percent_hundredths(1, Limit::of(40000)), 0); // 0.0025 % -> 0.00
}

TEST(Percent, LimitZeroIsOneHundredPercent)
{
    EXPECT_EQ(percent_hundredths(0, Limit::of(0)), 10000);
    EXPECT_EQ(percent_hundredths(5, Limit::of(0)), 10000);
}

TEST(Percent, UsageAboveTheLimitGoesPastOneHundred)
{
    EXPECT_EQ(percent_hundredths(150, Limit::of(100)), 15000);
}

TEST(Percent, ExtremeValuesDoNotOverflow)
{
    EXPECT_EQ(percent_hundredths(max64, Limit::of(max64)), 10000);
    EXPECT_EQ(percent_hundredths(max64, Limit::of(1)), max64); // clamped
    EXPECT_GT(percent_hundredths(max64, Limit::of(2)), 0);
}

TEST(Status, ThresholdsAreComparedExactly)
{
    EXPECT_EQ(usage_status(7999, Limit::of(10000)), UsageStatus::ok);
    EXPECT_EQ(usage_status(8000, Limit::of(10000)), UsageStatus::warning);
    EXPECT_EQ(usage_status(8999, Limit::of(10000)), UsageStatus::warning);
    EXPECT_EQ(usage_status(9000, Limit::of(10000)), UsageStatus::critical);
    EXPECT_EQ(usage_status(9999, Limit::of(10000)), UsageStatus::critical);
    EXPECT_EQ(usage_status(10000, Limit::of(10000)), UsageStatus::blocked);
    EXPECT_EQ(usage_status(10001, Limit::of(10000)), UsageStatus::blocked);
}

TEST(Status, PercentThatRoundsUpDoesNotChangeTheStatus)
{
    // 79.999 % rounds to 80.00 but is not yet 80 %.
    EXPECT_EQ(percent_hundredths(79999, Limit::of(100000)), 8000);
    EXPECT_EQ(usage_status(79999, Limit::of(100000)), UsageStatus::ok);
}

TEST(Status, LimitZeroIsBlockedAndUnlimitedIsUnlimited)
{
    EXPECT_EQ(usage_status(0, Limit::of(0)), UsageStatus::blocked);
    EXPECT_EQ(usage_status(max64, Limit::none()), UsageStatus::unlimited);
    EXPECT_EQ(usage_status(max64, Limit::of(max64)), UsageStatus::blocked);
    EXPECT_EQ(usage_status(max64 - 1, Limit::of(max64)), UsageStatus::critical);
}

TEST(Status, NamesAreTheContractWords)
{
    EXPECT_STREQ(usage_status_name(UsageStatus::unlimited), "unlimited");
    EXPECT_STREQ(usage_status_name(UsageStatus::ok), "ok");
    EXPECT_STREQ(usage_status_name(UsageStatus::warning), "warning");
    EXPECT_STREQ(usage_status_name(UsageStatus::critical), "critical");
    EXPECT_STREQ(usage_status_name(UsageStatus::blocked), "blocked");
}
