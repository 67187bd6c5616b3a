#include <cstring>

#include "partition_moves.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "partition_checks.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
}

namespace {

// Plain data only: marks live in static storage, untouched by errors.
struct MoveMark {
    Oid root; // the partitioned table at the top of the moving row's tree
    // The partition the row moves from, and its version there, which the
    // move deletes (moved_away).
    Oid source;
    ItemPointerData old_row;
    LocalTransactionId transaction;
    SubTransactionId subtransaction;
    TimestampTz statement_start;
    char resource[zechat::billing::resource_field_bytes];
    char tenant[zechat::billing::tenant_id_field_bytes];
};

// Moves nest only when a trigger of one moves a row of another tree; a
// deeper one than this is counted as before (as an insert).
constexpr int max_marks = 8;
MoveMark marks[max_marks];
int mark_count = 0;

bool mark_is_current(const MoveMark& mark)
{
    return mark.transaction == MyProc->lxid &&
           mark.subtransaction == GetCurrentSubTransactionId() &&
           mark.statement_start == GetCurrentStatementStartTimestamp();
}

// Keeps the marks `keep` says yes to, in their order.
void keep_marks_where(bool (*keep)(const MoveMark&))
{
    int kept = 0;
    for (int i = 0; i < mark_count; ++i)
        if (keep(marks[i]))
            marks[kept++] = marks[i];
    mark_count = kept;
}

// Marks of earlier statements or subtransactions are of no use any more.
void forget_stale_marks()
{
    keep_marks_where(mark_is_current);
}

// The columns a partition's constraint (with its ancestors') reads, kept
// for the command that last asked: every row an UPDATE writes asks, and
// within one command the constraint is what the executor checks rows
// against anyway.  Plain data, as the marks.
constexpr int max_constrained_columns = 16;
struct ConstrainedColumns {
    Oid relid;
    LocalTransactionId transaction;
    CommandId command;
    bool any_column; // a system column, or too many to keep: check every row
    int count;
    AttrNumber attnums[max_constrained_columns];
};
ConstrainedColumns constrained = {InvalidOid, InvalidLocalTransactionId, InvalidCommandId, false, 0,
                                  {}};

const ConstrainedColumns& constrained_columns_of(Relation rel)
{
    CommandId command = GetCurrentCommandId(false);
    if (constrained.relid == RelationGetRelid(rel) && constrained.transaction == MyProc->lxid &&
        constrained.command == command)
        return constrained;
    constrained.relid = InvalidOid; // until filled in
    // Read where the relation cache keeps it, not copied
    // (RelationGetPartitionQual computes it on first use).
    if (!rel->rd_partcheckvalid)
        (void)RelationGetPartitionQual(rel);
    Bitmapset* columns = nullptr;
    pull_varattnos(reinterpret_cast<Node*>(rel->rd_partcheck), 1, &columns);
    constrained.any_column = false;
    constrained.count = 0;
    int member = -1;
    while ((member = bms_next_member(columns, member)) >= 0) {
        AttrNumber attnum = member + FirstLowInvalidHeapAttributeNumber;
        if (attnum <= 0 || attnum > RelationGetDescr(rel)->natts ||
            constrained.count == max_constrained_columns) {
            constrained.any_column = true;
            break;
        }
        constrained.attnums[constrained.count++] = attnum;
    }
    bms_free(columns);
    constrained.transaction = MyProc->lxid;
    constrained.command = command;
    constrained.relid = RelationGetRelid(rel);
    return constrained;
}

// Whether old_row and new_row differ in a column the partition constraint
// reads (binary comparison: equal values stored differently count as a
// change, which only costs the full check).
bool constrained_columns_differ(Relation rel, HeapTuple old_row, HeapTuple new_row)
{
    const ConstrainedColumns& columns = constrained_columns_of(rel);
    if (columns.any_column)
        return true;
    TupleDesc descriptor = RelationGetDescr(rel);
    for (int i = 0; i < columns.count; ++i) {
        AttrNumber attnum = columns.attnums[i];
        Form_pg_attribute attribute = TupleDescAttr(descriptor, attnum - 1);
        bool old_null;
        bool new_null;
        Datum old_value = heap_getattr(old_row, attnum, descriptor, &old_null);
        Datum new_value = heap_getattr(new_row, attnum, descriptor, &new_null);
        if (old_null != new_null ||
            (!old_null &&
             !datumIsEqual(old_value, new_value, attribute->attbyval, attribute->attlen)))
            return true;
    }
    return false;
}

// Whether the row version a mark was left for is deleted by this
// transaction as a row moving to another partition: PostgreSQL says so in
// the deleted version when it deletes the first half of a move.  An UPDATE
// that a later BEFORE UPDATE trigger skipped (or whose delete a BEFORE
// DELETE trigger skipped) leaves the row in place, and its mark stands for
// no move (taken, such a mark would let the next insert of the tenant
// into the tree go uncounted, past the limit).  Tables of another access
// method than heap are taken at their marks' word.
bool moved_away(const MoveMark& mark)
{
    Relation rel = try_relation_open(mark.source, AccessShareLock);
    if (rel == nullptr)
        return false;
    bool moved = true;
    if (rel->rd_tableam == GetHeapamTableAmRoutine()) {
        HeapTupleData version;
        version.t_self = mark.old_row;
        Buffer buffer;
        moved = false;
        if (heap_fetch(rel, SnapshotAny, &version, &buffer, true)) {
            LockBuffer(buffer, BUFFER_LOCK_SHARE);
            HeapTupleHeader header = version.t_data;
            moved = (header->t_infomask & HEAP_XMAX_INVALID) == 0 &&
                    !HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask) &&
                    HeapTupleHeaderIndicatesMovedPartitions(header) &&
                    TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(header));
            LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
            ReleaseBuffer(buffer);
        }
    }
    relation_close(rel, AccessShareLock);
    return moved;
}

// The index of the mark of row version `row` of partition `source` for
// `resource`, or -1.
int mark_of(Oid source, ItemPointerData row, const char* resource)
{
    for (int i = 0; i < mark_count; ++i)
        if (marks[i].source == source && ItemPointerEquals(&marks[i].old_row, &row) &&
            std::strcmp(marks[i].resource, resource) == 0)
            return i;
    return -1;
}

// No room for another mark: those whose rows have not moved go.  Most are
// of updates skipped earlier in the statement; one whose delete is still
// to come (a trigger of its update moved other rows meanwhile) is lost,
// and its row counted again when inserted, which can only refuse too much.
void forget_marks_of_rows_kept()
{
    keep_marks_where(moved_away);
}

// The root of each partition asked about, looked up in pg_inherits once:
// an UPDATE asks for every row it moves, and an insert for every row while
// a mark is pending (asking pg_inherits each time would be more than half
// of what a moving row costs).  A partition's root changes only when it, or
// a partitioned ancestor, is attached or detached, and PostgreSQL then
// invalidates the relation cache entry of the partition and of every
// partition under it, which forgets its root here (module.cpp).
struct PartitionRoot {
    Oid relid; // hash key
    Oid root;
};
HTAB* partition_roots = nullptr;
uint64 partition_roots_generation = 0;

} // namespace

namespace zechat::billing::pg {

Oid trigger_origin_table(Oid trigger_oid)
{
    Relation catalog = table_open(TriggerRelationId, AccessShareLock);
    Oid relid = InvalidOid;
    for (Oid current = trigger_oid; OidIsValid(current);) {
        ScanKeyData key;
        ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
                    ObjectIdGetDatum(current));
        SysScanDesc scan = systable_beginscan(catalog, TriggerOidIndexId, true, nullptr, 1, &key);
        HeapTuple tuple = systable_getnext(scan);
        current = InvalidOid;
        if (HeapTupleIsValid(tuple)) {
            auto* form = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
            relid = form->tgrelid;
            current = form->tgparentid;
        }
        systable_endscan(scan);
    }
    table_close(catalog, AccessShareLock);
    return relid;
}

Oid partition_tree_root(Oid relid)
{
    if (partition_roots == nullptr)
        partition_roots = create_backend_hash("zechat_billing partition roots", 16, sizeof(Oid),
                                              sizeof(PartitionRoot), CacheMemoryContext);
    auto* known =
        static_cast<PartitionRoot*>(hash_search(partition_roots, &relid, HASH_FIND, nullptr));
    if (known != nullptr)
        return known->root;
    // Kept only if no invalidation came while pg_inherits was read (it may
    // be of this very partition, and what was read may predate it).
    uint64 generation = partition_roots_generation;
    List* ancestors = get_partition_ancestors(relid);
    Oid root = ancestors == NIL ? relid : llast_oid(ancestors);
    list_free(ancestors);
    if (generation == partition_roots_generation) {
        auto* entry =
            static_cast<PartitionRoot*>(hash_search(partition_roots, &relid, HASH_ENTER, nullptr));
        entry->root = root;
    }
    return root;
}

void forget_partition_roots(Oid relid)
{
    ++partition_roots_generation;
    if (partition_roots == nullptr)
        return;
    if (OidIsValid(relid)) {
        (void)hash_search(partition_roots, &relid, HASH_REMOVE, nullptr);
        return;
    }
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, partition_roots);
    while (auto* entry = static_cast<PartitionRoot*>(hash_seq_search(&status)))
        (void)hash_search(partition_roots, &entry->relid, HASH_REMOVE, nullptr);
}

bool update_moves_row(Relation rel, HeapTuple old_row, HeapTuple new_row)
{
    if (!rel->rd_rel->relispartition)
        return false;
    // The old row fits (it is there): so does a new one whose columns the
    // constraint reads are the same, which is most UPDATEs, and needs no
    // expression built and run.
    if (!constrained_columns_differ(rel, old_row, new_row))
        return false;
    return !row_fits_partition(rel, RelationGetRelid(rel), new_row);
}

bool moved_row_stays_in(Relation rel, HeapTuple new_row, Oid enforced_table)
{
    // A partition enforced on its own: the row's new partition may be too,
    // and its trigger take the mark (a row never counted then moves as it
    // is; one the trigger sent out of the tree's enforcements leaves its
    // mark to the statement).
    if (enforced_table == RelationGetRelid(rel))
        return true;
    return row_fits_partition(rel, enforced_table, new_row);
}

bool partition_moves_pending()
{
    return mark_count > 0;
}

void note_partition_move(Relation rel, HeapTuple old_row, const char* resource, const char* tenant)
{
    forget_stale_marks();
    if (std::strlen(resource) >= sizeof marks[0].resource ||
        std::strlen(tenant) >= sizeof marks[0].tenant)
        return;
    // One mark per row version and resource: an update of the row that a
    // later BEFORE UPDATE trigger skipped, then one that moves it (UPDATE
    // ... FROM with two join rows for it), left two, both good once the
    // row moved, and the second let another insert of the tenant into the
    // tree go uncounted past the limit (a helper's hunt of 2026-12-07).
    Oid root = partition_tree_root(RelationGetRelid(rel)); // may raise: before a slot is taken
    int slot = mark_of(RelationGetRelid(rel), old_row->t_self, resource);
    if (slot < 0) {
        if (mark_count == max_marks)
            forget_marks_of_rows_kept();
        if (mark_count == max_marks)
            return;
        slot = mark_count++;
    }
    MoveMark& mark = marks[slot];
    mark.root = root;
    mark.source = RelationGetRelid(rel);
    mark.old_row = old_row->t_self;
    mark.transaction = MyProc->lxid;
    mark.subtransaction = GetCurrentSubTransactionId();
    mark.statement_start = GetCurrentStatementStartTimestamp();
    std::strcpy(mark.resource, resource);
    std::strcpy(mark.tenant, tenant);
}

bool take_partition_move(Relation rel, const char* resource, const char* tenant)
{
    if (mark_count == 0) // every insert comes here: stay cheap
        return false;
    forget_stale_marks();
    if (mark_count == 0 || !rel->rd_rel->relispartition)
        return false;
    Oid root = partition_tree_root(RelationGetRelid(rel));
    for (int i = mark_count - 1; i >= 0; --i) {
        const MoveMark& mark = marks[i];
        // One whose row has not moved (yet) stays: its delete may still
        // come, after this insert made by a trigger.
        if (!mark_is_current(mark) || mark.root != root ||
            std::strcmp(mark.resource, resource) != 0 || std::strcmp(mark.tenant, tenant) != 0 ||
            !moved_away(mark))
            continue;
        marks[i] = marks[mark_count - 1];
        --mark_count;
        return true;
    }
    return false;
}

} // namespace zechat::billing::pg
