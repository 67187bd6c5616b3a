// The JSON object carried in the DETAIL of a PT402 refusal:
//   {"tenant_id", "resource", "limit", "used", "requested", "reason"}
// Applications parse it, so it must be valid JSON whatever bytes a tenant id
// holds (quotes, backslashes, control characters).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quota_rules.hpp"

namespace zechat::billing {

enum class RefusalReason { limit_reached, no_subscription, subscription_inactive };

const char* refusal_reason_name(RefusalReason reason) noexcept;

struct Refusal {
    const char* tenant_id;
    std::size_t tenant_id_length;
    const char* resource;
    std::size_t resource_length;
    Limit limit; // unlimited is written as null
    int64_t used;
    int64_t requested;
    RefusalReason reason;
};

// Largest output format_refusal_detail can produce for keys within the
// validated lengths (every byte escaped as \u00XX, plus the fixed text).
constexpr std::size_t refusal_detail_capacity = 1024;

// Writes the JSON object, NUL-terminated, into out[0..capacity).  Returns the
// length it needed (excluding the NUL); when that is >= capacity the output
// was cut short but is still terminated.
std::size_t format_refusal_detail(const Refusal& refusal, char* out, std::size_t capacity) noexcept;

// Appends `length` bytes of `text` as a JSON string literal (with quotes).
// Same return convention as format_refusal_detail, relative to `used`.
std::size_t append_json_string(char* out, std::size_t capacity, std::size_t used, const char* text,
                               std::size_t length) noexcept;

} // namespace zechat::billing
