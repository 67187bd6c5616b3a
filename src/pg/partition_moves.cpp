#include <cstring>

#include "partition_moves.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/partition.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

namespace {

// Plain data only: marks live in static storage, untouched by errors.
struct MoveMark {
    Oid root; // the partitioned table at the top of the moving row's tree
    LocalTransactionId transaction;
    SubTransactionId subtransaction;
    TimestampTz statement_start;
    char resource[48];
    char tenant[64];
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

// Marks of earlier statements or subtransactions are of no use any more.
void forget_stale_marks()
{
    int kept = 0;
    for (int i = 0; i < mark_count; ++i)
        if (mark_is_current(marks[i]))
            marks[kept++] = marks[i];
    mark_count = kept;
}

} // namespace

namespace zechat::billing::pg {

Oid partition_tree_root(Oid relid)
{
    List* ancestors = get_partition_ancestors(relid);
    Oid root = ancestors == NIL ? relid : llast_oid(ancestors);
    list_free(ancestors);
    return root;
}

bool update_moves_row(Relation rel, HeapTuple new_row)
{
    if (!rel->rd_rel->relispartition)
        return false;
    List* constraint = RelationGetPartitionQual(rel);
    if (constraint == NIL)
        return false;
    EState* estate = CreateExecutorState();
    ExprState* check = ExecPrepareCheck(constraint, estate);
    TupleTableSlot* slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
    ExecStoreHeapTuple(new_row, slot, false);
    ExprContext* econtext = GetPerTupleExprContext(estate);
    econtext->ecxt_scantuple = slot;
    bool fits = ExecCheck(check, econtext);
    ExecDropSingleTupleTableSlot(slot);
    FreeExecutorState(estate);
    return !fits;
}

void note_partition_move(Relation rel, const char* resource, const char* tenant)
{
    forget_stale_marks();
    if (mark_count == max_marks || std::strlen(resource) >= sizeof marks[0].resource ||
        std::strlen(tenant) >= sizeof marks[0].tenant)
        return;
    MoveMark& mark = marks[mark_count];
    mark.root = partition_tree_root(RelationGetRelid(rel));
    mark.transaction = MyProc->lxid;
    mark.subtransaction = GetCurrentSubTransactionId();
    mark.statement_start = GetCurrentStatementStartTimestamp();
    std::strcpy(mark.resource, resource);
    std::strcpy(mark.tenant, tenant);
    ++mark_count;
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
        if (!mark_is_current(mark) || mark.root != root ||
            std::strcmp(mark.resource, resource) != 0 || std::strcmp(mark.tenant, tenant) != 0)
            continue;
        marks[i] = marks[mark_count - 1];
        --mark_count;
        return true;
    }
    return false;
}

} // namespace zechat::billing::pg
