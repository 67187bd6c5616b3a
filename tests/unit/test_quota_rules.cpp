// The admission arithmetic, percent and status rules (src/core/quota_rules).
#include <cstdint>
#include <string>

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

TEST(AdmissionCeiling, IsTheLimitOrTheBigintMaximum)
{
    EXPECT_EQ(admission_ceiling(Limit::of(10)), 10);
    EXPECT_EQ(admission_ceiling(Limit::of(0)), 0);
    EXPECT_EQ(admission_ceiling(Limit::of(max64)), max64);
    EXPECT_EQ(admission_ceiling(Limit::none()), max64);
    EXPECT_EQ(admission_ceiling(Limit{true, 5}), max64);
}

TEST(LimitsEqual, ComparesValuesOfLimitedLimitsOnly)
{
    EXPECT_TRUE(limits_equal(Limit::of(10), Limit::of(10)));
    EXPECT_FALSE(limits_equal(Limit::of(10), Limit::of(11)));
    EXPECT_TRUE(limits_equal(Limit::none(), Limit{true, 5})); // value meaningless
    EXPECT_FALSE(limits_equal(Limit::none(), Limit::of(0)));
    EXPECT_FALSE(limits_equal(Limit::of(max64), Limit::none()));
}

TEST(CorrectionDelta, SettingGoesToTheValue)
{
    EXPECT_EQ(correction_delta(10, 4, true), -6);
    EXPECT_EQ(correction_delta(4, 10, true), 6);
    EXPECT_EQ(correction_delta(7, 7, true), 0);
    EXPECT_EQ(correction_delta(-3, 0, true), 3); // a counter below 0 back to 0
    EXPECT_EQ(correction_delta(0, max64, true), max64);
}

TEST(CorrectionDelta, AddingNeverGoesBelowZero)
{
    EXPECT_EQ(correction_delta(10, 5, false), 5);
    EXPECT_EQ(correction_delta(10, -4, false), -4);
    EXPECT_EQ(correction_delta(10, -10, false), -10);
    EXPECT_EQ(correction_delta(10, -11, false), -10);
    EXPECT_EQ(correction_delta(0, -1, false), 0);
    EXPECT_EQ(correction_delta(-3, -1, false), 3); // below 0: back to 0
    EXPECT_EQ(correction_delta(max64, -max64, false), -max64);
}

namespace {
// format_percent's text, for comparing.
std::string percent(int64_t used, Limit limit)
{
    char text[percent_text_size];
    format_percent(used, limit, text);
    return text;
}
} // namespace

TEST(Percent, HasTwoDecimalsRoundedHalfUp)
{
    EXPECT_EQ(percent(0, Limit::of(10)), "0.00");
    EXPECT_EQ(percent(1, Limit::of(3)), "33.33");
    EXPECT_EQ(percent(2, Limit::of(3)), "66.67");
    EXPECT_EQ(percent(8, Limit::of(10)), "80.00");
    EXPECT_EQ(percent(1, Limit::of(80000)), "0.00"); // 0.00125 % -> 0.00
    EXPECT_EQ(percent(1, Limit::of(20000)), "0.01"); // 0.005 %  -> 0.01
    EXPECT_EQ(percent(1, Limit::of(40000)), "0.00"); // 0.0025 % -> 0.00
}

TEST(Percent, LimitZeroIsOneHundredPercent)
{
    EXPECT_EQ(percent(0, Limit::of(0)), "100.00");
    EXPECT_EQ(percent(5, Limit::of(0)), "100.00");
}

TEST(Percent, UsageAboveTheLimitGoesPastOneHundred)
{
    EXPECT_EQ(percent(150, Limit::of(100)), "150.00");
}

TEST(Percent, IsExactForEveryBigint)
{
    EXPECT_EQ(percent(max64, Limit::of(max64)), "100.00");
    EXPECT_EQ(percent(max64 - 1, Limit::of(max64)), "100.00"); // 99.99999... rounds up
    EXPECT_EQ(percent(50000000000000000, Limit::of(10)), "500000000000000000.00");
    EXPECT_EQ(percent(max64, Limit::of(1)), "922337203685477580700.00");
    EXPECT_EQ(percent(max64, Limit::of(2)), "461168601842738790350.00");
    EXPECT_EQ(percent(max64, Limit::of(3)), "307445734561825860233.33");
    EXPECT_EQ(percent(1, Limit::of(max64)), "0.00");
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
    EXPECT_EQ(percent(79999, Limit::of(100000)), "80.00");
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
