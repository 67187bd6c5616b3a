// Shared-memory mode's durable write: this backend's own part of a key in
// billing.usage_parts (see 010_tables.sql), updated once per committing
// transaction.
//
// Nobody else writes that row while this backend lives (parts are per
// BackendId, and PREPARE with a pending change is refused), so once its
// location is known it is updated in place (usage_part_rows.hpp: a heap
// update, index entries only when it is not HOT, its page pruned when the
// new version would not fit), without going through SPI and the executor:
// on the hot path of a one-row transaction that is most of what
// shared-memory mode adds.  The location is found once per backend through
// the primary key; once the transaction that wrote it has committed, the
// next write takes the tuple there for the newest version while its xmin is
// still that transaction's (no snapshot, no key check; heap_update refuses
// it if anyone else changed the row since), and otherwise looks the row up
// again.  A relcache invalidation of the table (VACUUM, TRUNCATE, DROP)
// forgets every location; in shared-memory mode the backend first hands
// them to its successor under the same BackendId, as it does when it exits
// (shared_hints.hpp), which checks each as its own.  Only a part that does not exist yet is written
// by the SQL statement, which creates it.
#pragma once

#include "tenant_terms.hpp"

extern "C" {
#include "access/htup.h"
}

namespace zechat::billing::pg {

// The writer's part += delta, creating the row if needed (writer > 0).
// `again`: this transaction has written the key's part already (at commit,
// what a trigger on billing.alerts consumed after the first write).
void add_to_own_usage_part(const QuotaKey& key, TimestampTz period_start, int writer, int64 delta,
                           bool again);

// Lock mode's writer-0 row, which every backend writes: where the version
// this backend last committed is, and the transaction (or subtransaction)
// that wrote it; false when not known.  The same cache as the parts above,
// kept the same way (committed versions only, forgotten when the catalog
// generation moves on), but a version there is taken only when the
// snapshot sees it (usage_part_rows.cpp): anyone may have updated the row
// since.  Call with usage_parts opened and locked, so that a rewrite of
// the table has moved the generation on.
bool remembered_part_version(const QuotaKey& key, TimestampTz period_start, int writer,
                             ItemPointer tid, TransactionId* xmin);

// This transaction wrote `written_version` of the key's row of `writer`:
// where the next look starts once it has committed.
void remember_part_version(const QuotaKey& key, TimestampTz period_start, int writer,
                           HeapTuple written_version);

// A subtransaction aborts: its writes (and its children's) are forgotten.
// Lock mode writes the usage row again after each rollback to a savepoint;
// kept to the end of the transaction, such writes would grow without bound
// (a loop of PL/pgSQL exception blocks), and at commit the last one,
// rolled back, would become where the next write looks first.  Never
// raises.
void forget_own_usage_part_writes_of(SubTransactionId subxact);

// The transaction ends (COMMIT: committed; ABORT, PREPARE: not): the
// versions it wrote become where the next writes look first.  Never
// raises.
void end_own_usage_part_writes(bool committed);

} // namespace zechat::billing::pg
