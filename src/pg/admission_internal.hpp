// The helpers that admission's files share (admission.cpp,
// usage_corrections.cpp, usage_release.cpp, usage_moves.cpp); not for other
// callers.
#pragma once

#include "admission.hpp"

namespace zechat::billing::pg {

// admission.cpp:

// What remains under `limit` at usage `used`.
QuotaRemaining remaining_after(int64 used, Limit limit);

// Lock mode: the key's usage entry for this transaction, locking its usage
// row and reading the committed usage the first time (see usage_store.hpp).
// nullptr when there is no usage yet: nothing to lock, usage 0.
PendingUsage* locked_usage(const QuotaKey& key, TimestampTz period_start);

// Changes of usage need a transaction that may write: not a read-only one
// (also on a hot standby, where every transaction is), and not a parallel
// operation, which PostgreSQL runs without the transaction callbacks that
// settle and write what was admitted (consume_quota is PARALLEL UNSAFE; a
// function calling it marked safe or restricted would have its reservation
// kept in shared memory for good, its usage never written, and a counter
// loaded with the query's old snapshot; sql/04_transactions.sql).
void prevent_change_unless_writable(const char* name);

// usage_corrections.cpp:

// adjust_usage() with a choice: `counting_unconfirmed` for a change of this
// transaction's own consumption (a take-back, a move of a period's usage),
// which the rows it has not confirmed yet are part of; without, a
// correction to what rows hold (adjust_usage()), which leaves them out and
// names its period (shared-memory mode: committed_for_correction).
// Returns the change it made.
int64 correct_usage(const QuotaKey& key, TimestampTz period_start, int64 value, bool set,
                    bool counting_unconfirmed);

// Shared-memory mode: this transaction's view of the key's usage, as
// reported: never below 0 (as stored, it may be).
int64 counter_usage(PendingUsage* usage);

// Shared-memory mode, after prepare_pending_change(): gives back up to
// amount on the key's counter and records what it gave and what that drew
// on committed usage (CounterTable::release).
void give_back_on_counter(PendingUsage* usage, int64 amount, bool of_stored_rows);

} // namespace zechat::billing::pg
