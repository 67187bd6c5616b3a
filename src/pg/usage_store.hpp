// Durable usage: billing.usage_parts rows, whose sum per tenant, resource
// and period is the committed usage, read and written through saved SPI
// plans as the extension owner.  Shared-memory mode only reads the sum
// (loading a counter) and adds to its backend's own part at commit
// (add_usage with writer = BackendId); the rest is lock mode.
//
// Lock-mode protocol: what serialises the consumers of one (tenant,
// resource, period) is the lock on its writer-0 row, held until commit or
// rollback (or the rollback of the savepoint that took it):
//   * the first admission of the key in a transaction is one statement,
//     add_usage_within(): an upsert whose WHERE compares the *locked, latest*
//     version of the row with the limit, and writes if it fits.  In READ
//     COMMITTED, PostgreSQL re-evaluates that WHERE on the newest version
//     after waiting for a concurrent holder, so two sessions can never both
//     take the last unit;
//   * a release, or a refusal, locks the row first (lock_usage_row);
//   * what follows in the same transaction accumulates in pending_usage.hpp
//     (the row stays locked) and add_usage() writes it just before commit.
// REPEATABLE READ and SERIALIZABLE transactions cannot wait for a row and
// then use its newer version (they would fail with a serialization error),
// so they first take a transaction-scoped advisory lock on the key
// (lock_usage_key, a no-op in READ COMMITTED): among themselves they queue
// on it and then find the row unchanged.  Reads and writes use the latest
// snapshot, which after the lock holds every commit of the previous holder.
// Writes are increments, so admin maintenance (recount), serialised on the
// table lock, composes with them.  Rollback undoes them like any row change.
#pragma once

#include "tenant_terms.hpp"

extern "C" {
#include "storage/itemptr.h"
}

namespace zechat::billing::pg {

// REPEATABLE READ / SERIALIZABLE only: the advisory lock on the key.
void lock_usage_key(const QuotaKey& key);

// Locks the key's writer-0 row (creating it if only other parts exist) and
// reads the key's usage; false (used = 0) if the key has no usage at all.
bool lock_usage_row(const QuotaKey& key, TimestampTz period_start, int64* used);

// The same locks (key and writer-0 row), taken only if no other
// transaction holds them or writes the row; 55P03 otherwise, the key noted
// (usage_row_waits.hpp).  A key without a row: nothing locked.
void lock_usage_row_without_waiting(const QuotaKey& key, TimestampTz period_start);

// Committed usage (plus what this transaction wrote) of the key in the
// period; false (used = 0) when it has none.
bool read_usage_parts(const QuotaKey& key, TimestampTz period_start, int64* used);

// The same, 0 when none.
int64 read_usage(const QuotaKey& key, TimestampTz period_start);

// A schedule change moving the usage of a key that has no row at all: the
// key's writer-0 row is inserted and deleted again at once.  Its version
// stays in the primary key, inserted by a transaction in progress, until
// this transaction ends, so a consumer creating the row meanwhile (its
// first admission, under terms from before this change) waits for it, as
// for any row being inserted, and then finds its period moved.  False, with
// nothing claimed, when another transaction created the row first (waited
// for by ON CONFLICT): the caller locks and moves that row.
bool claim_absent_usage_row(const QuotaKey& key, TimestampTz period_start);

// Under the key lock, the first admission of the key in a transaction:
// used += amount if that stays <= ceiling, written at once (creating the row
// if needed).  Returns false, writing nothing, when it would not fit.
bool add_usage_within(const QuotaKey& key, TimestampTz period_start, int64 amount, int64 ceiling,
                      int64* new_used);

// The writer's part += delta, creating the row if needed.  Writer 0 is lock
// mode's (its caller holds the row lock); writer n > 0 belongs to the backend
// with BackendId n.
// With `location`, also says where the row's new version is.
void add_usage(const QuotaKey& key, TimestampTz period_start, int writer, int64 delta,
               ItemPointerData* location = nullptr);

// Lock mode's writer.
constexpr int lock_mode_writer = 0;

} // namespace zechat::billing::pg
