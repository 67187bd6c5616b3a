// Corrections of a key's usage, not checked against the limit: recount's
// and enforce_quota's, and a change carried at commit to the period a
// schedule change moved the key to.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// A correction of the key's usage in a period, not checked against the
// limit: adds value (never taking usage below 0), or with `set` makes usage
// equal to value (>= 0).  For recount and enforce_quota.
void adjust_usage(const QuotaKey& key, TimestampTz period_start, int64 value, bool set);

// Shared-memory mode, at commit: `net`, this transaction's change of the
// key in a period a schedule change then moved away from (and already given
// back there by the caller), goes to the period `now` says counts, as the
// move would have carried it had it committed first (lock mode's order):
// admitted before the change committed, it is not checked against the new
// limit again.
void carry_change_to_period(const QuotaKey& key, const TenantTerms& now, int64 net);

} // namespace zechat::billing::pg
