#include "quota_rules.hpp"

#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

// 128-bit intermediates make every product and sum below exact.
using wide = __int128;

bool at_or_above_percent(int64_t used, int64_t limit, int percent) noexcept
{
    return static_cast<wide>(used) * 100 >= static_cast<wide>(limit) * percent;
}

} // namespace

Limit effective_limit(StoredLimit override_limit, StoredLimit plan_limit) noexcept
{
    if (override_limit.present)
        return override_limit.limit;
    if (plan_limit.present)
        return plan_limit.limit;
    return Limit::of(0);
}

Admission admit(int64_t used, Limit limit, int64_t amount) noexcept
{
    const wide total = static_cast<wide>(used) + amount;
    if (!limit.unlimited) {
        if (total > limit.value)
            return Admission{AdmissionResult::limit_reached, used};
        return Admission{AdmissionResult::admitted, static_cast<int64_t>(total)};
    }
    if (total > INT64_MAX)
        return Admission{AdmissionResult::overflow, used};
    return Admission{AdmissionResult::admitted, static_cast<int64_t>(total)};
}

int64_t usage_after_release(int64_t used, int64_t amount) noexcept
{
    return amount >= used ? 0 : used - amount;
}

int64_t remaining_under(int64_t used, Limit limit) noexcept
{
    return used >= limit.value ? 0 : limit.value - used;
}

int64_t admission_ceiling(Limit limit) noexcept
{
    return limit.unlimited ? INT64_MAX : limit.value;
}

bool limits_equal(Limit a, Limit b) noexcept
{
    return a.unlimited == b.unlimited && (a.unlimited || a.value == b.value);
}

int64_t correction_delta(int64_t current, int64_t value, bool set) noexcept
{
    if (set)
        return value - current;
    return value < -current ? -current : value;
}

void format_percent(int64_t used, Limit limit, char (&text)[percent_text_size]) noexcept
{
    // used * 10000 / limit hundredths, rounded half up; at most about
    // 9.2e22, exact in 128 bits.
    wide hundredths = 10000;
    if (limit.value > 0)
        hundredths =
            (static_cast<wide>(used) * 20000 + limit.value) / (static_cast<wide>(limit.value) * 2);
    // Digits from the last: two decimals, the point, then at least one
    // whole digit.
    char reversed[percent_text_size];
    int n = 0;
    do {
        if (n == 2)
            reversed[n++] = '.';
        reversed[n++] = static_cast<char>('0' + static_cast<int>(hundredths % 10));
        hundredths /= 10;
    } while (hundredths > 0 || n < 4);
    for (int i = 0; i < n; i++)
        text[i] = reversed[n - 1 - i];
    text[n] = '\0';
}

UsageStatus usage_status(int64_t used, Limit limit) noexcept
{
    if (limit.unlimited)
        return UsageStatus::unlimited;
    if (limit.value <= 0 || at_or_above_percent(used, limit.value, 100))
        return UsageStatus::blocked;
    if (at_or_above_percent(used, limit.value, 90))
        return UsageStatus::critical;
    if (at_or_above_percent(used, limit.value, 80))
        return UsageStatus::warning;
    return UsageStatus::ok;
}

const char* usage_status_name(UsageStatus status) noexcept
{
    switch (status) {
    case UsageStatus::unlimited:
        return "unlimited";
    case UsageStatus::ok:
        return "ok";
    case UsageStatus::warning:
        return "warning";
    case UsageStatus::critical:
        return "critical";
    case UsageStatus::blocked:
        return "blocked";
    }
    return "unknown";
}

} // namespace zechat::billing
