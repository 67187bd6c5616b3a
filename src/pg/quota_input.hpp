// The checks of a quota call's input: the tenant id and resource name that
// make its key, and the amount.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// Validates and wraps a tenant id and resource name; raises 22023 when the
// tenant id is empty or longer than 63 bytes.  The strings must stay valid
// while the key is used.
QuotaKey make_quota_key(const char* tenant_id, const char* resource);

// Raises 22023 unless amount > 0.
void require_positive_amount(int64 amount);

} // namespace zechat::billing::pg
