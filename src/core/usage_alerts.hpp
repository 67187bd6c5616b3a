// Usage alerts (CONTRACT.md, "Periods, history and alerts"): the
// zechat_billing.alert_thresholds setting, and which thresholds a
// consumption crosses.
//
// A consumption crosses threshold t when it takes usage from below t % of
// the limit to at or above it: before * 100 < t * limit <= after * 100,
// compared exactly (no rounding, no overflow).  Unlimited resources never
// alert; under a limit of 0 every usage is "at or above", so nothing is
// ever crossed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quota_rules.hpp"

namespace zechat::billing {

constexpr int max_alert_thresholds = 16;

// Percentages, ascending and distinct, each 1..100.
struct AlertThresholds {
    int count;
    int percent[max_alert_thresholds];
};

enum class ThresholdsProblem {
    none,
    not_a_number, // an entry that is not a whole number (or is empty)
    out_of_range, // below 1 or above 100
    duplicate,    // the same percentage twice
    too_many,     // more than max_alert_thresholds
};

struct ThresholdsParse {
    ThresholdsProblem problem;
    AlertThresholds thresholds; // valid when problem == none
};

// Parses a comma-separated list such as "80,90,100" (spaces around entries
// allowed, any order).  An empty or blank list means no alerts.
ThresholdsParse parse_alert_thresholds(const char* text) noexcept;

// Bit i is set when thresholds.percent[i] is crossed going from `before` to
// `after` usage.
uint32_t crossed_thresholds(int64_t before, int64_t after, Limit limit,
                            const AlertThresholds& thresholds) noexcept;

// A move of a key's usage to another period (a schedule change) takes
// `moved`: of it, what the moving transaction itself consumed in the old
// period (`own`, its net change there, any int64) alerts in the new one,
// and the rest is carried along, which is no consumption.
struct AlertCarry {
    bool consumed_here; // the transaction consumed in the old period
    int64_t carried;    // of `moved`, what it did not consume
};
AlertCarry alert_carry_across_move(int64_t own, int64_t moved) noexcept;

} // namespace zechat::billing
