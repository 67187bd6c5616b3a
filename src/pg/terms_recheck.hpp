// Whether the terms an admission was decided on still hold after it may
// have waited: a schedule change that moved the key's period, a change of
// its limit or subscription.  consume_quota() decides again when they do not.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// The tenant's terms now (*now); true when they count the key's usage in a
// period other than [period_start, period_end): a schedule change moved it.
// If that period is still running, this transaction counts periods from now
// on at this moment (count_periods_from_now).  Whoever waited for that
// change takes the invalidation messages first
// (tenant_terms_may_have_changed).
bool period_differs_now(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                        TenantTerms* now);

// Shared-memory mode, after an admission that may have waited (for a
// schedule change moving the counter): did such a change commit meanwhile,
// moving its current period?  The change carried the usage of the period
// the terms were read for to the new one, and what was just admitted there
// would stay behind, uncounted in the period that now counts.
bool period_moved_since(const QuotaKey& key, const TenantTerms& terms);

// Lock mode, after an admission or a refusal that may have waited for the
// key's row (another transaction of the tenant holds it): did a change of
// the tenant's terms commit meanwhile -- its limit, its subscription, the
// period that counts (a schedule change moved it: see period_moved_since)?
// The consumption is then decided again under the new terms, as one that
// came after the change, not on the terms it read before waiting: refused
// under a limit raised meanwhile, admitted past one lowered, or after the
// subscription was suspended (isolation terms_change_while_waiting).  Cheap
// when no invalidation arrived.
bool terms_changed_since(const QuotaKey& key, const TenantTerms& terms);

// Lock mode, after an admission that created the key's row or found it at
// 0: that is what a schedule change leaves in the period it moves away from
// (its carry takes the row to 0; its claim of a key without a row makes the
// consumer wait for it, then create the row).  Such a change may have
// committed without its invalidation messages being out yet -- a
// transaction leaves the list of running ones first and sends them a moment
// later -- so terms_changed_since() would not see it: the terms of a period
// resource's key are read again from the tables, whose latest snapshot
// does.  Once per key and period, and after a move, not on every admission.
bool terms_changed_in_storage(const QuotaKey& key, const TenantTerms& terms);

} // namespace zechat::billing::pg
