// Rows of billing.usage_parts read and rewritten with the heap and index
// access methods directly, without SPI and the executor.  For the hot
// writes only: lock mode's writer-0 row of a key (its first admission in a
// transaction, the lock a release takes, the write at commit of what
// followed) and shared-memory mode's commit-time write of its backend's
// own part (the pruning of its page, the copy of its version with `used`
// changed in place), and finding where that part is; own_usage_part.cpp
// keeps where the parts are.  Everything rarer (creating a row, reading
// sums) stays in SQL, in usage_store.cpp.
//
// These bypass what the executor would add: permission checks (the table
// belongs to the extension and is written on its behalf), triggers and
// row-level security (usage_parts has none).  Index entries are added only
// when the new version is not a HOT update, which for a row whose only
// changing column is not indexed is almost never.
#pragma once

#include "tenant_terms.hpp"

extern "C" {
#include "access/htup.h"
#include "storage/buf.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// billing.usage_parts columns, 1-based (010_tables.sql), and index columns
// of its primary key (tenant_id, resource, period_start, writer).
enum PartColumn { col_tenant_id = 1, col_resource, col_period_start, col_writer, col_used };
constexpr int part_columns = 5;

// Where the row of the key and writer visible to the latest snapshot is:
// false when there is none.  Shared-memory mode's first write of its own
// part in a backend, so that only a row that does not exist yet costs an
// INSERT statement.
bool locate_part_row(const QuotaKey& key, TimestampTz period_start, int writer, ItemPointer tid);

// Replaces the row version at *old_tid, which the caller's transaction may
// update (it holds the row lock, or the row is its backend's own part), by
// `updated`: heap update, and index entries unless it is a HOT update.
// Sets updated->t_self.  Raises if someone else updated the row meanwhile.
// The caller holds a pin on the page of *old_tid from the moment it checked
// the tuple there: heap_update trusts that the slot still holds that tuple,
// and only a pin keeps the page from being pruned meanwhile.
void replace_part_row(Relation rel, ItemPointer old_tid, HeapTuple updated);

// The same (pin included) for a version whose inserting transaction is
// known to have committed, without a row lock: waits for a transaction in flight that
// holds the row, as UPDATE does, and returns false (nothing written) when
// the version is no longer the newest (updated or deleted meanwhile).
bool try_replace_part_row(Relation rel, ItemPointer old_tid, HeapTuple updated);

// The tuple at `tid` on the page of `buffer` (pinned and share-locked by the
// caller) into *tuple, pointing into the page, when its line pointer holds a
// tuple that `xmin` wrote: a version remembered where it was written is
// still there (a line pointer is given to another tuple only once its tuple
// is dead to everyone, and the new tuple carries its own xmin).
bool version_written_by(Relation rel, Buffer buffer, const ItemPointerData& tid, TransactionId xmin,
                        HeapTuple tuple);

// Pins the page of the tuple at *tid for the write that follows, and prunes
// it of dead versions first when the new version, about as long as the
// tuple there, would not fit.  InvalidBuffer when there is no such page.
//
// The pin is kept until heap_update is done with the tuple: line pointers
// change only when a page is pruned, and pruning needs the page with no
// other pin.  Released between the check of the version and heap_update, a
// version that someone else made dead meanwhile (an administrator's edit)
// could be pruned and its slot given to another row, which heap_update
// would then replace (tests/scripts/own_part_pinned.sh).  Pruning comes
// first for the same reason: it may remove the very version checked.
//
// Index scans prune the pages they visit, a fetch by TID does not: without
// this the page would fill with this backend's dead versions and the row
// would move to another page, with new index entries, while the table grows
// until autovacuum comes.  Only when needed, though: pruning walks every
// line pointer of the page, and a page of usage_parts holds about a hundred
// rows (most of them other keys' and other backends' parts), so pruning on
// every commit cost about as much as the rest of the write (see the
// fillfactor in 010_tables.sql).
Buffer pin_page_with_room(Relation rel, ItemPointer tid);

// The committed version at `tid` that `xmin` wrote, on the page pinned in
// `buffer` (pin_page_with_room), copied with `used` raised by delta;
// nullptr when the tuple there is not that version (any more) or not in the
// shape written here.  Shared-memory mode's write of its backend's own part
// (own_usage_part.cpp); 22003 when the sum leaves the bigint range
// (add_to_part_used).
HeapTuple copy_committed_version(Relation rel, const ItemPointerData& tid, TransactionId xmin,
                                 int64 delta, Buffer buffer, const char* resource,
                                 const char* tenant_id);

// Adds `delta` to a part's `*used`: SQLSTATE 22003, naming `resource` and
// `tenant_id`, when the sum leaves the bigint range (both ways of writing a
// backend's own part share it).
void add_to_part_used(int64* used, int64 delta, const char* resource, const char* tenant_id);

// SQLSTATE 22003: the usage of `resource` by `tenant_id` in a part is out
// of the bigint range.
[[noreturn]] void raise_part_out_of_range(const char* resource, const char* tenant_id);

// Takes what reading usage_parts needs, AccessShareLock on the table and
// each of its indexes, kept to the end of the transaction.  Shared-memory
// mode does so before it marks a counter as loading: a backend waiting for
// that load waits on a condition variable, which the deadlock detector
// cannot see, so the loader must not then queue for a lock behind a request
// (VACUUM FULL, REINDEX, DROP EXTENSION) that itself waits for the waiter.
void lock_usage_parts_for_reading();

// Takes what writing usage_parts needs, RowExclusiveLock on the table, kept
// to the end of the top-level transaction: shared-memory mode's entry (and
// its pinned counter) outlives the rollback of the savepoint it was first
// tracked in, and so must the lock, which that rollback would release.
// Whatever reads usage_parts and then writes it in the same transaction
// takes it before the read: a REINDEX TABLE of usage_parts holds the
// table's SHARE lock while it waits for the index locks the read took, and
// a transaction asking for the writer's lock after them would deadlock
// with it (40P01; isolation reindex_usage_parts).
void lock_usage_parts_for_writing();

// The transaction, other than this one, still writing the key's writer-0
// row (lock mode's), or InvalidTransactionId.  On a server running with the
// library preloaded nothing writes that row but a transaction prepared in
// lock mode before the restart: until it ends, no snapshot shows its usage,
// so shared-memory mode must wait for it before it loads the key's counter.
TransactionId writer_zero_row_in_flight(const QuotaKey& key, TimestampTz period_start);

// The same for any writer's row of the key: a transaction, other than this
// one, that has written its part and not yet ended.
TransactionId any_part_row_in_flight(const QuotaKey& key, TimestampTz period_start);

enum class LockedAdmission {
    admitted,  // used += amount written; *new_used is the result
    no_room,   // the newest version is locked, used + amount > ceiling
    not_found, // no writer-0 row of the key to lock (none yet, or deleted
               // meanwhile): nothing done, the caller goes through SQL
};

// Lock mode's first admission of a key: finds its writer-0 row with the
// latest snapshot, locks its newest version (waiting for a transaction in
// flight that holds it, as UPDATE does in READ COMMITTED; a serialization
// failure in REPEATABLE READ if it changed), and, if used + amount <=
// ceiling there, writes used + amount.  Also lock mode's write at commit of
// what followed (amount of either sign, ceiling PG_INT64_MAX; no_room then
// means the sum is out of the bigint range).
LockedAdmission admit_on_writer_zero_row(const QuotaKey& key, TimestampTz period_start,
                                         int64 amount, int64 ceiling, int64* new_used);

// How a row lock treats a transaction in flight that holds the row.
enum class RowLockWait {
    as_update,   // as above: waits; 40001 in REPEATABLE READ if it changed
    refuse,      // 55P03 instead of waiting (usage_row_waits.hpp)
    then_newest, // waits, then locks the newest version whatever the
                 // isolation: for a caller that only waits for the holder
};

// Lock mode's lock of a key for a release or a refusal: its writer-0 row
// found and its newest version locked as above, nothing written, its usage
// into *used.  False, nothing locked, when the key has no such row.
bool lock_writer_zero_row(const QuotaKey& key, TimestampTz period_start, int64* used,
                          RowLockWait wait = RowLockWait::as_update);

} // namespace zechat::billing::pg
