// Errors of the quota functions: PT402 refusals and bad input.
#pragma once

#include "../core/refusal_detail.hpp"
#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// SQLSTATE PT402: PostgREST answers HTTP 402 for it by itself.
#define ZB_ERRCODE_QUOTA_EXCEEDED MAKE_SQLSTATE('P', 'T', '4', '0', '2')

[[noreturn]] void report_refusal(const QuotaKey& key, Limit limit, int64 used, int64 requested,
                                 RefusalReason reason, SubscriptionState subscription);

// SQLSTATE 22003: the usage of a resource by a tenant would pass the bigint
// range (an unlimited resource, or sums in flight at the edge).
[[noreturn]] void report_past_bigint(const char* resource, const char* tenant_id);

} // namespace zechat::billing::pg
