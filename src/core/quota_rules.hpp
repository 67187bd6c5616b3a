// The admission arithmetic and usage reporting rules of zechat_billing.
//
// Everything here is plain integer logic on int64 values, written so that no
// input can overflow: PostgreSQL bigints go up to INT64_MAX, and an
// unlimited resource can accumulate usage that far.  All functions are
// noexcept and allocation free, so the PostgreSQL layer may call them from
// frames that can ereport().
#pragma once

#include <cstdint>

namespace zechat::billing {

// A hard limit as stored in plan_limits / limit_overrides: NULL = unlimited.
struct Limit {
    bool unlimited;
    int64_t value; // meaningful only when !unlimited; never negative

    static constexpr Limit none() noexcept { return Limit{true, 0}; }
    static constexpr Limit of(int64_t v) noexcept { return Limit{false, v}; }
};

// A limit row that may be missing: a tenant's override, or its plan's limit
// for the resource.
struct StoredLimit {
    bool present;
    Limit limit; // meaningful only when present
};

// The hard limit a tenant has on a resource: its override when it has one,
// else its plan's limit for the resource, else 0 (a resource the plan does
// not include).  The rule of billing._tenant_terms (030_terms.sql).
Limit effective_limit(StoredLimit override_limit, StoredLimit plan_limit) noexcept;

enum class AdmissionResult {
    admitted,      // new_used holds used + amount
    limit_reached, // used + amount would exceed the limit
    overflow,      // used + amount does not fit in an int64 (unlimited only)
};

struct Admission {
    AdmissionResult result;
    int64_t new_used;
};

// Would consuming `amount` (> 0) on top of `used` (>= 0) stay within `limit`?
Admission admit(int64_t used, Limit limit, int64_t amount) noexcept;

// Usage after giving back `amount` (> 0): never below zero.
int64_t usage_after_release(int64_t used, int64_t amount) noexcept;

// What is left under the limit, never negative.  Only for a limited resource.
int64_t remaining_under(int64_t used, Limit limit) noexcept;

// The most usage `limit` admits: its value, or the bigint maximum when
// unlimited.
int64_t admission_ceiling(Limit limit) noexcept;

// Do the two limits admit the same usage?  Two unlimited limits are equal
// whatever their (meaningless) values.
bool limits_equal(Limit a, Limit b) noexcept;

// What a correction of usage `current` changes: to `value` when `set`, else
// by `value`, but never below 0.  `current` may be below 0 (a counter as
// stored), which a correction brings back to 0.  Requires that `value -
// current` (set) and `-current` fit in an int64.
int64_t correction_delta(int64_t current, int64_t value, bool set) noexcept;

// used * 100 / limit as decimal text with 2 decimals ("33.33"), rounded half
// away from zero (the way numeric round(x, 2) rounds a non-negative value).
// A limit of 0 is 100 %.  Only for a limited resource, used >= 0.  Text, as
// the exact figure does not fit in an int64 of hundredths: usage can be up
// to 9.2e18 times the limit (a limit lowered far below the usage), so up to
// "922337203685477580700.00".
constexpr int percent_text_size = 32;
void format_percent(int64_t used, Limit limit, char (&text)[percent_text_size]) noexcept;

enum class UsageStatus { unlimited, ok, warning, critical, blocked };

// unlimited; ok (< 80 %); warning (>= 80 %); critical (>= 90 %); blocked
// (>= 100 %).  Compared exactly, not on the rounded percent.
UsageStatus usage_status(int64_t used, Limit limit) noexcept;

const char* usage_status_name(UsageStatus status) noexcept;

} // namespace zechat::billing
