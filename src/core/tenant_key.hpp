// Validation of the keys that name a counter: tenant ids and resource names.
#pragma once

#include <cstddef>

namespace zechat::billing {

// Tenant ids are 1 to 63 bytes: they must fit, with a terminator, in the
// fixed-size keys of the counter tables, the same bound as PostgreSQL's
// NAMEDATALEN.
constexpr std::size_t max_tenant_id_bytes = 63;

enum class TenantIdProblem { none, empty, too_long };

TenantIdProblem check_tenant_id(std::size_t length_in_bytes) noexcept;

// Resource names become part of trigger names, so they are kept to
// lower-case identifiers: [a-z][a-z0-9_]*, at most 40 bytes.
constexpr std::size_t max_resource_name_bytes = 40;

bool is_valid_resource_name(const char* name, std::size_t length) noexcept;

// The fixed-size, NUL-padded fields that hold a tenant id and a resource
// name in the keys of the counter tables and of the backends' caches.  The
// sizes are kept exactly as they are, not derived from the limits above:
// CounterKey is laid out in shared memory, and the hint keys are compared
// and hashed as bytes.  A field holds its longest name and a terminator.
constexpr std::size_t tenant_id_field_bytes = 64;
constexpr std::size_t resource_field_bytes = 48;
static_assert(tenant_id_field_bytes >= max_tenant_id_bytes + 1,
              "a tenant id field holds the longest tenant id and its terminator");
static_assert(resource_field_bytes >= max_resource_name_bytes + 1,
              "a resource field holds the longest resource name and its terminator");

} // namespace zechat::billing
