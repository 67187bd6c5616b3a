#include "usage_alerts.hpp"

#include <algorithm>

#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

bool is_blank(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// usage is at or above `percent` % of `limit` (limit >= 0, usage any int64).
bool at_or_above(int64_t usage, int percent, int64_t limit) noexcept
{
    return static_cast<__int128>(usage) * 100 >= static_cast<__int128>(percent) * limit;
}

} // namespace

ThresholdsParse parse_alert_thresholds(const char* text) noexcept
{
    ThresholdsParse parse{ThresholdsProblem::none, AlertThresholds{0, {}}};
    const char* p = text;
    while (is_blank(*p))
        ++p;
    if (*p == '\0')
        return parse; // no alerts
    for (;;) {
        while (is_blank(*p))
            ++p;
        int value = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (value <= 1000) // keep it bounded; anything past 100 is out of range anyway
                value = value * 10 + (*p - '0');
            ++digits;
            ++p;
        }
        while (is_blank(*p))
            ++p;
        if (digits == 0 || (*p != ',' && *p != '\0')) {
            parse.problem = ThresholdsProblem::not_a_number;
            return parse;
        }
        if (value < 1 || value > 100) {
            parse.problem = ThresholdsProblem::out_of_range;
            return parse;
        }
        AlertThresholds& t = parse.thresholds;
        if (std::find(t.percent, t.percent + t.count, value) != t.percent + t.count) {
            parse.problem = ThresholdsProblem::duplicate;
            return parse;
        }
        if (t.count == max_alert_thresholds) {
            parse.problem = ThresholdsProblem::too_many;
            return parse;
        }
        t.percent[t.count++] = value;
        if (*p == '\0')
            break;
        ++p; // the comma
    }
    std::sort(parse.thresholds.percent, parse.thresholds.percent + parse.thresholds.count);
    return parse;
}

uint32_t crossed_thresholds(int64_t before, int64_t after, Limit limit,
                            const AlertThresholds& thresholds) noexcept
{
    if (limit.unlimited || after <= before)
        return 0;
    uint32_t crossed = 0;
    for (int i = 0; i < thresholds.count; ++i) {
        int percent = thresholds.percent[i];
        if (!at_or_above(before, percent, limit.value) && at_or_above(after, percent, limit.value))
            crossed |= 1u << i;
    }
    return crossed;
}

AlertCarry alert_carry_across_move(int64_t own, int64_t moved) noexcept
{
    if (moved <= 0)
        return AlertCarry{false, 0};
    own = std::clamp<int64_t>(own, 0, moved);
    return AlertCarry{own > 0, moved - own};
}

} // namespace zechat::billing
