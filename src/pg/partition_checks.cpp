#include "partition_checks.hpp"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "storage/lockdefs.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
}

namespace {

enum class Outcome { always_fits, never_fits, by_check };

struct PreparedCheck {
    Oid relid;       // whose rows are checked
    Oid constrained; // against whose constraint
    Outcome outcome;
    ExprState* check; // by_check: prepared in the command's executor state
};

// The checks of the command that last asked.  Its executor state is freed
// when another command asks, not with the transaction: nothing points into
// memory an abort took away.  A command checks rows of a few partitions;
// one that checks more pairs than there is room for here starts over, so
// that its memory stays bounded.
constexpr int max_checks = 16;
struct CommandChecks {
    LocalTransactionId transaction;
    CommandId command;
    EState* estate;
    int count;
    PreparedCheck checks[max_checks];
};
CommandChecks prepared = {InvalidLocalTransactionId, InvalidCommandId, nullptr, 0, {}};

// Frees what the checks were prepared in, and makes a new executor state
// for those of the command asking now.
void start_over(CommandId command)
{
    if (prepared.estate != nullptr)
        FreeExecutorState(prepared.estate);
    prepared.estate = nullptr;
    prepared.count = 0;
    MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);
    prepared.estate = CreateExecutorState();
    MemoryContextSwitchTo(caller);
    prepared.transaction = MyProc->lxid;
    prepared.command = command;
}

// The constraint of `constrained` in rel's columns, in the executor
// state's memory, as a prepared check.
PreparedCheck prepare_check(EState* estate, Relation rel, Oid constrained)
{
    PreparedCheck prepared_check = {RelationGetRelid(rel), constrained, Outcome::always_fits,
                                    nullptr};
    // The expression, copied out of the relation cache, lives as long as
    // the check: a prepared check may point into it (by-reference
    // constants, a text bound).
    MemoryContext caller = MemoryContextSwitchTo(estate->es_query_cxt);
    List* constraint = NIL;
    if (constrained == RelationGetRelid(rel)) {
        constraint = RelationGetPartitionQual(rel);
    } else {
        Relation ancestor = try_relation_open(constrained, AccessShareLock);
        if (ancestor == nullptr) {
            MemoryContextSwitchTo(caller);
            prepared_check.outcome = Outcome::never_fits;
            return prepared_check;
        }
        if (ancestor->rd_rel->relispartition)
            constraint =
                map_partition_varattnos(RelationGetPartitionQual(ancestor), 1, rel, ancestor);
        relation_close(ancestor, AccessShareLock);
    }
    MemoryContextSwitchTo(caller);
    if (constraint != NIL) {
        prepared_check.outcome = Outcome::by_check;
        prepared_check.check = ExecPrepareCheck(constraint, estate);
    }
    return prepared_check;
}

PreparedCheck check_for(Relation rel, Oid constrained)
{
    CommandId command = GetCurrentCommandId(false);
    if (prepared.estate == nullptr || prepared.transaction != MyProc->lxid ||
        prepared.command != command)
        start_over(command);
    for (int i = 0; i < prepared.count; ++i)
        if (prepared.checks[i].relid == RelationGetRelid(rel) &&
            prepared.checks[i].constrained == constrained)
            return prepared.checks[i];
    if (prepared.count == max_checks)
        start_over(command);
    PreparedCheck check = prepare_check(prepared.estate, rel, constrained);
    prepared.checks[prepared.count++] = check;
    return check;
}

// Whether row fits the check, evaluated in estate's per-tuple context.
bool passes(const PreparedCheck& check, EState* estate, Relation rel, HeapTuple row)
{
    if (check.outcome != Outcome::by_check)
        return check.outcome == Outcome::always_fits;
    TupleTableSlot* slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
    ExecStoreHeapTuple(row, slot, false);
    ExprContext* econtext = GetPerTupleExprContext(estate);
    ResetExprContext(econtext);
    econtext->ecxt_scantuple = slot;
    bool fits = ExecCheck(check.check, econtext);
    ExecDropSingleTupleTableSlot(slot);
    return fits;
}

// Checks being evaluated: a constraint may call a function (in the
// partition key, or an operator's) that updates rows of another
// partitioned table, whose triggers then ask in the middle of the check.
int checks_under_way = 0;

} // namespace

namespace zechat::billing::pg {

bool row_fits_partition(Relation rel, Oid constrained, HeapTuple row)
{
    if (checks_under_way > 0) {
        // Asked from within a check: the prepared checks, their memory
        // and their expression context are the outer check's, in use
        // (freed under it, the server would crash).  This one is prepared
        // for its row alone.
        EState* estate = CreateExecutorState();
        bool fits = passes(prepare_check(estate, rel, constrained), estate, rel, row);
        FreeExecutorState(estate);
        return fits;
    }
    PreparedCheck check = check_for(rel, constrained);
    bool fits = false;
    ++checks_under_way;
    PG_TRY();
    {
        fits = passes(check, prepared.estate, rel, row);
    }
    PG_FINALLY();
    {
        --checks_under_way;
    }
    PG_END_TRY();
    return fits;
}

} // namespace zechat::billing::pg
