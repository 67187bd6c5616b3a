// Durable usage in lock mode: billing.usage rows, one per tenant, resource
// and period, read and written through saved SPI plans as the extension
// owner.
//
// Protocol (exact under any isolation level):
//   1. lock_usage_key() takes a transaction-scoped exclusive lock on the
//      (tenant, resource) key, so consumers of one key run one at a time
//      until commit or rollback (a subtransaction abort releases it too);
//   2. read_usage() then reads with the *latest* snapshot, which holds every
//      commit of the previous holder of the lock, even in REPEATABLE READ;
//   3. what the transaction admits accumulates in pending_usage.hpp and
//      add_usage() writes it just before commit, as an increment, so admin
//      maintenance (recount) serialised on the table lock composes with it.
// Rollback of the transaction or of a savepoint undoes it, as for any row.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

void lock_usage_key(const QuotaKey& key);

// Committed usage (plus this transaction's own) of the key in the period.
int64 read_usage(const QuotaKey& key, TimestampTz period_start);

// used := greatest(used + delta, 0), creating the row if needed.
void add_usage(const QuotaKey& key, TimestampTz period_start, int64 delta);

} // namespace zechat::billing::pg
