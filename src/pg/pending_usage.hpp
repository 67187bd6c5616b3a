// Usage this transaction has admitted and not yet written to billing.usage.
//
// Writing every admission straight to its billing.usage row would make one
// transaction update the same row once per inserted row: a COPY of a
// million messages would leave a million dead versions of one row behind,
// and every read of it would walk them.  Instead the first admission of a
// key locks and writes its row (usage_store.hpp) and records the result as
// base_used; the admissions that follow in the transaction accumulate here,
// against that locked value, and are written once, just before commit
// (XACT_EVENT_PRE_COMMIT / PRE_PREPARE, where an error still aborts the
// transaction cleanly).
//
// Savepoints: each entry keeps, per subtransaction, what it admitted there.
// Aborting a subtransaction takes its part back; committing one hands its
// part to the parent.  The row lock is released, and the first write undone,
// when the subtransaction that took it aborts: such an entry is forgotten
// (its base would be stale), and the next admission starts over.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

struct PendingUsage; // opaque, lives in TopTransactionContext

// The entry of a key this transaction holds the lock of, or nullptr.
PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start);

// Starts tracking a key just locked; base_used is its committed usage.
PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used);

// base_used + everything admitted so far in this transaction.
int64 pending_current_usage(const PendingUsage* entry);

// Records a change (positive: consumed, negative: released) in the current
// subtransaction.
void add_pending_usage(PendingUsage* entry, int64 delta);

// This transaction's not yet written change for a key (0 if none).
int64 pending_delta_for(const QuotaKey& key, TimestampTz period_start);

// Calls fn(tenant_id, resource, period_start, delta, arg) for every key with a
// non-zero unwritten change whose tenant is tenant_id.
void for_each_pending_of_tenant(const char* tenant_id,
                                void (*fn)(const char* resource, TimestampTz period_start,
                                           int64 delta, void* arg),
                                void* arg);

// Registers the transaction callbacks; called from _PG_init.
void register_pending_usage_callbacks();

} // namespace zechat::billing::pg
