#include <cstring>

#include "usage_part_rows.hpp"

#include "billing_catalog.hpp"
#include "column_access.hpp"
#include "own_usage_part.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/relcache.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// Index entries for a version that is not heap-only, through the executor's
// own routine, so that any index an administrator may have added
// (expressions, predicates) is kept right too.  Rare: the primary key does
// not cover `used`, so updates are HOT while the page has room.
void insert_index_entries(Relation rel, HeapTuple tuple)
{
    EState* estate = CreateExecutorState();
    ResultRelInfo* info = makeNode(ResultRelInfo);
    InitResultRelInfo(info, rel, 1, nullptr, 0);
    ExecOpenIndices(info, false);
    TupleTableSlot* slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
    ExecStoreHeapTuple(tuple, slot, false);
    (void)ExecInsertIndexTuples(info, slot, estate, false, false, nullptr, NIL);
    ExecCloseIndices(info);
    ExecResetTupleTable(estate->es_tupleTable, false);
    FreeExecutorState(estate);
}

// Starts a scan of the key's rows, of one writer or (writer < 0) all.
IndexScanDesc begin_part_scan(Relation rel, Relation index, Snapshot snapshot, const QuotaKey& key,
                              TimestampTz period_start, int writer)
{
    ScanKeyData keys[4];
    index_column_equals(
        &keys[0], index, col_tenant_id, F_TEXTEQ,
        PointerGetDatum(cstring_to_text_with_len(key.tenant_id, key.tenant_id_length)));
    index_column_equals(
        &keys[1], index, col_resource, F_TEXTEQ,
        PointerGetDatum(cstring_to_text_with_len(key.resource, key.resource_length)));
    index_column_equals(&keys[2], index, col_period_start, F_TIMESTAMPTZ_EQ,
                        TimestampTzGetDatum(period_start));
    int key_count = 3;
    if (writer >= 0)
        index_column_equals(&keys[key_count++], index, col_writer, F_INT4EQ, Int32GetDatum(writer));
    IndexScanDesc scan = index_beginscan(rel, index, snapshot, key_count, 0);
    index_rescan(scan, keys, key_count, nullptr, 0);
    return scan;
}

// Whether more than `limit` versions of the row precede the one at
// `found` in the HOT chain that starts at `root`, on `page` (locked).
bool chain_longer_than(Page page, OffsetNumber root, OffsetNumber found, int limit)
{
    OffsetNumber offset = root;
    for (int versions = 0; versions <= limit; ++versions) {
        if (offset == found || offset < FirstOffsetNumber || offset > PageGetMaxOffsetNumber(page))
            return false;
        ItemId item = PageGetItemId(page, offset);
        if (ItemIdIsRedirected(item)) {
            offset = ItemIdGetRedirect(item);
            continue;
        }
        if (!ItemIdIsNormal(item))
            return false;
        auto header = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, item));
        if (!HeapTupleHeaderIsHotUpdated(header))
            return false;
        offset = ItemPointerGetOffsetNumber(&header->t_ctid);
    }
    return true;
}

// The version in the slot's own tuple, at `tid` on the page in `buffer`,
// stored in `slot`, which takes a pin of its own.
void store_version(Relation rel, const ItemPointerData& tid, Buffer buffer, TupleTableSlot* slot)
{
    HeapTuple tuple = &reinterpret_cast<BufferHeapTupleTableSlot*>(slot)->base.tupdata;
    tuple->t_self = tid;
    slot->tts_tableOid = RelationGetRelid(rel);
    ExecStoreBufferHeapTuple(tuple, slot, buffer);
}

// The member of the HOT chain at *root visible to `snapshot`, into `slot`
// (a buffer heap tuple slot), as an index scan fetches it, but for when the
// page is pruned.  An index scan offers every page it visits for pruning
// (heap_page_prune_opt), which prunes a page short of room, and a page of
// usage_parts holding many keys always is once its rows are updated: filled
// to its fillfactor (010_tables.sql), each update adds a version, and each
// visit then pruned the page, walking its hundred-odd line pointers (lock
// mode, 1000 tenants: 14k of 181k instructions per insert).  Here the page
// is offered only when the next version of the row found would not fit on
// it, or when the versions before it make the search long (a page of few
// keys, one hot tenant's, whose chain grows long before the page is short
// of room: heap_page_prune_opt's own test decides there, as it did).
// Offered before the slot pins the page, as pruning needs the only pin, and
// searched again, as pruning may move the version found.
// *all_dead: whether every version in the chain is dead to everyone.
bool fetch_part_version(Relation rel, ItemPointer root, Snapshot snapshot, TupleTableSlot* slot,
                        bool* all_dead)
{
    constexpr int long_chain = 4;
    // heap_page_prune_opt's own test: it prunes no page with more room.
    Size prune_below =
        Max(RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR), BLCKSZ / 10);
    auto* buffer_slot = reinterpret_cast<BufferHeapTupleTableSlot*>(slot);
    HeapTuple tuple = &buffer_slot->base.tupdata;
    Buffer buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(root));
    Page page = BufferGetPage(buffer);
    ItemPointerData tid;
    bool found = false;
    for (bool offered = false;; offered = true) {
        LockBuffer(buffer, BUFFER_LOCK_SHARE);
        tid = *root;
        found = heap_hot_search_buffer(&tid, rel, buffer, snapshot, tuple, all_dead, true);
        Size room = PageGetHeapFreeSpace(page);
        bool prune = found && !offered &&
                     (room < MAXALIGN(tuple->t_len) ||
                      ((PageIsFull(page) || room < prune_below) &&
                       chain_longer_than(page, ItemPointerGetOffsetNumber(root),
                                         ItemPointerGetOffsetNumber(&tid), long_chain)));
        LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
        if (!prune)
            break;
        heap_page_prune_opt(rel, buffer);
    }
    if (found)
        store_version(rel, tid, buffer, slot);
    ReleaseBuffer(buffer);
    return found;
}

// The version of lock mode's writer-0 row of the key this backend last
// committed, into `slot` (a buffer heap tuple slot), if `snapshot` sees it:
// then it is the version find_part_row would find (a snapshot sees at most
// one version of a row), without the descent of the primary key and the
// walk of the HOT chain from its root, which on one busy row passes
// dozens of dead versions (one tenant, one client: about 17k of 145k
// instructions per insert).  Taken only when its xmin is still the
// transaction that wrote it: a line pointer is reused only once its tuple
// is dead to everyone, and the tuple put there carries a newer xmin.  If
// anyone updated the row since, the snapshot sees that version or the
// update sees it being written, as after find_part_row.  As in
// pin_page_with_room, the page is pruned first when the row's next version
// would not fit, and stays pinned (by the slot) until the update.
bool fetch_remembered_version(Relation rel, Snapshot snapshot, const QuotaKey& key,
                              TimestampTz period_start, TupleTableSlot* slot)
{
    ItemPointerData tid;
    TransactionId xmin;
    if (!TTS_IS_BUFFERTUPLE(slot) ||
        !remembered_part_version(key, period_start, lock_mode_writer, &tid, &xmin) ||
        ItemPointerGetBlockNumber(&tid) >= RelationGetNumberOfBlocks(rel))
        return false;
    auto* buffer_slot = reinterpret_cast<BufferHeapTupleTableSlot*>(slot);
    HeapTuple tuple = &buffer_slot->base.tupdata;
    Buffer buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(&tid));
    Page page = BufferGetPage(buffer);
    for (bool offered = false;; offered = true) {
        LockBuffer(buffer, BUFFER_LOCK_SHARE);
        bool seen = version_written_by(rel, buffer, tid, xmin, tuple) &&
                    HeapTupleSatisfiesVisibility(tuple, snapshot, buffer);
        bool prune = seen && !offered && PageGetHeapFreeSpace(page) < MAXALIGN(tuple->t_len);
        LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
        if (!prune) {
            if (seen)
                store_version(rel, tid, buffer, slot);
            ReleaseBuffer(buffer);
            return seen;
        }
        // Pruning needs the only pin, and may move the version: checked again.
        heap_page_prune_opt(rel, buffer);
    }
}

// The row of the key and writer visible to `snapshot` (an MVCC one: one
// version at most per chain), into `slot`.
bool find_part_row(Relation rel, Relation index, Snapshot snapshot, const QuotaKey& key,
                   TimestampTz period_start, int writer, TupleTableSlot* slot)
{
    IndexScanDesc scan = begin_part_scan(rel, index, snapshot, key, period_start, writer);
    // Only heap's slots hold a buffer to search (usage_parts takes the
    // default table access method when created); any other fetches its own.
    if (!TTS_IS_BUFFERTUPLE(slot)) {
        bool found = index_getnext_slot(scan, ForwardScanDirection, slot);
        index_endscan(scan);
        return found;
    }
    bool found = false;
    while (!found) {
        ItemPointer root = index_getnext_tid(scan, ForwardScanDirection);
        if (root == nullptr)
            break;
        bool all_dead;
        found = fetch_part_version(rel, root, snapshot, slot, &all_dead);
        // As an index scan does: an entry whose versions are all dead to
        // everyone is marked so in the index, and later scans skip it.
        if (!scan->xactStartedInRecovery)
            scan->kill_prior_tuple = all_dead;
    }
    index_endscan(scan);
    return found;
}

// The first transaction, other than this one, found writing a row of the
// key (of one writer, or of any when writer < 0), or InvalidTransactionId.
// A dirty snapshot sees versions of transactions in flight and names the
// one inserting (xmin) or updating or deleting (xmax) each version it
// returns; this transaction's own writes it reports as neither.
TransactionId part_row_writer_in_flight(const QuotaKey& key, TimestampTz period_start, int writer)
{
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    Relation rel = open_billing_table(BillingTable::usage_parts, AccessShareLock);
    Relation index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    IndexScanDesc scan = begin_part_scan(rel, index, &dirty, key, period_start, writer);
    TransactionId writing = InvalidTransactionId;
    while (!TransactionIdIsValid(writing) && index_getnext_slot(scan, ForwardScanDirection, slot))
        writing = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
    index_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    index_close(index, NoLock);
    table_close(rel, NoLock);
    return writing;
}

// Locks the newest version of the row in `slot` the way UPDATE does before
// it writes: READ COMMITTED waits for a transaction in flight holding it and
// follows its update to the newest version; REPEATABLE READ and SERIALIZABLE
// fail with a serialization error when it changed.  True with that version
// in `slot`; false when it is gone (deleted meanwhile).  Or as `wait` says
// otherwise (RowLockWait).
bool lock_newest_version(Relation rel, Snapshot snapshot, TupleTableSlot* slot, RowLockWait wait)
{
    bool follow_updates = !IsolationUsesXactSnapshot() || wait == RowLockWait::then_newest;
    TM_FailureData failure;
    TM_Result result = table_tuple_lock(
        rel, &slot->tts_tid, snapshot, slot, GetCurrentCommandId(true), LockTupleNoKeyExclusive,
        wait == RowLockWait::refuse ? LockWaitError : LockWaitBlock,
        follow_updates ? TUPLE_LOCK_FLAG_FIND_LAST_VERSION : 0, &failure);
    if (result == TM_Updated && !follow_updates)
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("could not serialize access due to concurrent update")));
    return result == TM_Ok;
}

} // namespace

bool version_written_by(Relation rel, Buffer buffer, const ItemPointerData& tid, TransactionId xmin,
                        HeapTuple tuple)
{
    Page page = BufferGetPage(buffer);
    OffsetNumber offset = ItemPointerGetOffsetNumber(&tid);
    if (offset < FirstOffsetNumber || offset > PageGetMaxOffsetNumber(page))
        return false;
    ItemId item = PageGetItemId(page, offset);
    if (!ItemIdIsNormal(item))
        return false;
    tuple->t_data = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, item));
    tuple->t_len = ItemIdGetLength(item);
    tuple->t_self = tid;
    tuple->t_tableOid = RelationGetRelid(rel);
    return HeapTupleHeaderGetRawXmin(tuple->t_data) == xmin;
}

bool locate_part_row(const QuotaKey& key, TimestampTz period_start, int writer, ItemPointer tid)
{
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    Relation rel = open_billing_table(BillingTable::usage_parts, RowExclusiveLock);
    Relation index = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    bool found = find_part_row(rel, index, snapshot, key, period_start, writer, slot);
    if (found)
        *tid = slot->tts_tid;
    ExecDropSingleTupleTableSlot(slot);
    index_close(index, NoLock);
    table_close(rel, NoLock);
    UnregisterSnapshot(snapshot);
    return found;
}

void lock_usage_parts_for_reading()
{
    Relation rel = open_billing_table(BillingTable::usage_parts, AccessShareLock);
    List* indexes = RelationGetIndexList(rel);
    ListCell* cell;
    foreach (cell, indexes)
        LockRelationOid(lfirst_oid(cell), AccessShareLock);
    list_free(indexes);
    table_close(rel, NoLock);
}

void lock_usage_parts_for_writing()
{
    ResourceOwner current = CurrentResourceOwner;
    PG_TRY();
    {
        CurrentResourceOwner = TopTransactionResourceOwner;
        lock_billing_table(BillingTable::usage_parts, RowExclusiveLock);
    }
    PG_FINALLY();
    {
        CurrentResourceOwner = current;
    }
    PG_END_TRY();
}

TransactionId writer_zero_row_in_flight(const QuotaKey& key, TimestampTz period_start)
{
    return part_row_writer_in_flight(key, period_start, lock_mode_writer);
}

TransactionId any_part_row_in_flight(const QuotaKey& key, TimestampTz period_start)
{
    return part_row_writer_in_flight(key, period_start, -1);
}

void replace_part_row(Relation rel, ItemPointer old_tid, HeapTuple updated)
{
    simple_heap_update(rel, old_tid, updated);
    if (!HeapTupleIsHeapOnly(updated))
        insert_index_entries(rel, updated);
}

bool try_replace_part_row(Relation rel, ItemPointer old_tid, HeapTuple updated)
{
    TM_FailureData failure;
    LockTupleMode lock_mode;
    TM_Result result = heap_update(rel, old_tid, updated, GetCurrentCommandId(true),
                                   InvalidSnapshot, true, &failure, &lock_mode);
    if (result != TM_Ok)
        return false;
    if (!HeapTupleIsHeapOnly(updated))
        insert_index_entries(rel, updated);
    return true;
}

Buffer pin_page_with_room(Relation rel, ItemPointer tid)
{
    if (ItemPointerGetBlockNumber(tid) >= RelationGetNumberOfBlocks(rel))
        return InvalidBuffer;
    Buffer buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
    // Read without the content lock, like heap_page_prune_opt itself: a hint.
    Page page = BufferGetPage(buffer);
    OffsetNumber offset = ItemPointerGetOffsetNumber(tid);
    if (offset >= FirstOffsetNumber && offset <= PageGetMaxOffsetNumber(page)) {
        ItemId item = PageGetItemId(page, offset);
        if (ItemIdIsNormal(item) && PageGetHeapFreeSpace(page) < MAXALIGN(ItemIdGetLength(item)))
            heap_page_prune_opt(rel, buffer);
    }
    return buffer;
}

HeapTuple copy_committed_version(Relation rel, const ItemPointerData& tid, TransactionId xmin,
                                 int64 delta, Buffer buffer, const char* resource,
                                 const char* tenant_id)
{
    TupleDesc desc = RelationGetDescr(rel);
    if (desc->natts != part_columns || TupleDescAttr(desc, col_used - 1)->atttypid != INT8OID)
        return nullptr;
    LockBuffer(buffer, BUFFER_LOCK_SHARE);
    HeapTupleData tuple;
    HeapTuple copy =
        version_written_by(rel, buffer, tid, xmin, &tuple) ? heap_copytuple(&tuple) : nullptr;
    LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
    // `used` is the last column, a bigint that is never null: in a tuple
    // with all the columns and no nulls it is the last eight bytes (a
    // tuple's data ends with its last column).  Changing it there spares
    // taking the tuple apart and forming it again.
    bool usable = copy != nullptr && HeapTupleHeaderGetNatts(copy->t_data) == part_columns &&
                  !HeapTupleHasNulls(copy) && copy->t_len >= copy->t_data->t_hoff + sizeof(int64);
    if (!usable) {
        if (copy != nullptr)
            heap_freetuple(copy);
        return nullptr;
    }
    char* used_bytes = reinterpret_cast<char*>(copy->t_data) + copy->t_len - sizeof(int64);
    int64 used;
    std::memcpy(&used, used_bytes, sizeof used);
    add_to_part_used(&used, delta, resource, tenant_id);
    std::memcpy(used_bytes, &used, sizeof used);
    return copy;
}

void add_to_part_used(int64* used, int64 delta, const char* resource, const char* tenant_id)
{
    if (pg_add_s64_overflow(*used, delta, used))
        raise_part_out_of_range(resource, tenant_id);
}

void raise_part_out_of_range(const char* resource, const char* tenant_id)
{
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                    errmsg("usage of %s by tenant %s is out of the bigint range", resource,
                           tenant_id)));
    pg_unreachable();
}

namespace {

int64 used_in(TupleTableSlot* slot)
{
    bool isnull;
    Datum value = slot_getattr(slot, col_used, &isnull);
    return isnull ? 0 : DatumGetInt64(value);
}

// The version in `slot` with used + amount, if that is at most ceiling;
// nullptr otherwise.  *used: the usage there after (a new version) or
// before.
HeapTuple raised_version(Relation rel, TupleTableSlot* slot, int64 amount, int64 ceiling,
                         int64* used)
{
    *used = used_in(slot);
    int64 sum;
    if (pg_add_s64_overflow(*used, amount, &sum) || sum > ceiling)
        return nullptr;
    Datum replacement = Int64GetDatum(sum);
    bool replacement_null = false;
    int replaced_column = col_used;
    HeapTuple updated = heap_modify_tuple_by_cols(ExecFetchSlotHeapTuple(slot, false, nullptr),
                                                  RelationGetDescr(rel), 1, &replaced_column,
                                                  &replacement, &replacement_null);
    *used = sum;
    return updated;
}

// Finds the key's writer-0 row with the latest snapshot and locks its
// newest version; with `write`, writes used + amount there if that is at
// most ceiling.  *used: the usage there after (admitted) or before.
LockedAdmission lock_writer_zero_version(const QuotaKey& key, TimestampTz period_start,
                                         int64 amount, int64 ceiling, bool write, int64* used,
                                         RowLockWait wait)
{
    // As SPI does for a statement that writes: this transaction's earlier
    // changes (of the same statement, too) are seen.
    CommandCounterIncrement();
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    Relation rel = open_billing_table(BillingTable::usage_parts, RowExclusiveLock);
    Relation index = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);

    LockedAdmission outcome = LockedAdmission::not_found;
    if (fetch_remembered_version(rel, snapshot, key, period_start, slot) ||
        find_part_row(rel, index, snapshot, key, period_start, lock_mode_writer, slot)) {
        // The version found is the newest unless a transaction updated it
        // after the snapshot was taken, which the update finds (having
        // waited for one in flight): then nothing is written, and the row's
        // newest version is locked, read and written below.  Written at
        // once, the update takes the row's lock itself, without a lock of
        // its own first (a WAL record, and 2.6k of 147k instructions per insert).
        HeapTuple updated = write ? raised_version(rel, slot, amount, ceiling, used) : nullptr;
        bool written = updated != nullptr && try_replace_part_row(rel, &slot->tts_tid, updated);
        if (written)
            remember_part_version(key, period_start, lock_mode_writer, updated);
        if (updated != nullptr)
            heap_freetuple(updated);
        if (written) {
            outcome = LockedAdmission::admitted;
        } else if (lock_newest_version(rel, snapshot, slot, wait)) {
            outcome = LockedAdmission::admitted;
            if (!write) {
                *used = used_in(slot);
            } else if ((updated = raised_version(rel, slot, amount, ceiling, used)) != nullptr) {
                replace_part_row(rel, &slot->tts_tid, updated);
                remember_part_version(key, period_start, lock_mode_writer, updated);
                heap_freetuple(updated);
            } else {
                outcome = LockedAdmission::no_room;
            }
        }
    }

    ExecDropSingleTupleTableSlot(slot);
    // Like any writer, keep the locks until the transaction ends.
    index_close(index, NoLock);
    table_close(rel, NoLock);
    UnregisterSnapshot(snapshot);
    return outcome;
}

} // namespace

LockedAdmission admit_on_writer_zero_row(const QuotaKey& key, TimestampTz period_start,
                                         int64 amount, int64 ceiling, int64* new_used)
{
    return lock_writer_zero_version(key, period_start, amount, ceiling, true, new_used,
                                    RowLockWait::as_update);
}

bool lock_writer_zero_row(const QuotaKey& key, TimestampTz period_start, int64* used,
                          RowLockWait wait)
{
    return lock_writer_zero_version(key, period_start, 0, PG_INT64_MAX, false, used, wait) ==
           LockedAdmission::admitted;
}

} // namespace zechat::billing::pg
