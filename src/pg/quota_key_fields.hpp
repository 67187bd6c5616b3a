// A QuotaKey's tenant id and resource copied into the fixed-size fields of
// a hash key, and a QuotaKey naming such fields again.
#pragma once

#include <cstring>

#include "../core/tenant_key.hpp"
#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// Copies the names into fields the caller has zeroed, with the rest of its
// key (keys are compared and hashed as bytes, padding included): the zeros
// left after the names terminate them.  Nothing is cut short: a QuotaKey is
// validated (make_quota_key), so each name fits with its terminator.
inline void copy_key_fields(const QuotaKey& key, char (&tenant_id)[tenant_id_field_bytes],
                            char (&resource)[resource_field_bytes])
{
    std::memcpy(tenant_id, key.tenant_id, key.tenant_id_length);
    std::memcpy(resource, key.resource, key.resource_length);
}

// The key whose names are the NUL-terminated `tenant_id` and `resource`,
// pointing into them: valid while they are.
inline QuotaKey quota_key_in(const char* tenant_id, const char* resource)
{
    return QuotaKey{tenant_id, static_cast<int>(std::strlen(tenant_id)), resource,
                    static_cast<int>(std::strlen(resource))};
}

} // namespace zechat::billing::pg
