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

int64_t percent_hundredths(int64_t used, Limit limit) noexcept
{
    if (limit.value <= 0)
        return 10000;
    // used * 10000 / limit, rounded half up, in 128 bits.  The quotient
    // passes 64 bits only when usage is some 9.2e14 times the limit (a limit
    // lowered far below the usage): it is clamped then, and the percent
    // reads 92233720368547758.07 rather than the exact figure.
    const wide scaled = static_cast<wide>(used) * 10000;
    const wide rounded = (scaled * 2 + limit.value) / (static_cast<wide>(limit.value) * 2);
    return rounded > INT64_MAX ? INT64_MAX : static_cast<int64_t>(rounded);
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
