#include <algorithm>

#include "statement_nesting.hpp"

#include "growing_array.hpp"
#include "held_refusals.hpp"
#include "insert_confirmation.hpp"
#include "pending_changes.hpp"
#include "pg_headers.hpp"
#include "skippable_updates.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/executor.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

ExecutorRun_hook_type previous_run_hook = nullptr;
ExecutorFinish_hook_type previous_finish_hook = nullptr;
ProcessUtility_hook_type previous_utility_hook = nullptr;
int nesting_level = 0;

// writing_cids[level]: the command id the statement running at that level
// writes its rows with, InvalidCommandId when it writes none (or is not
// COPY FROM, for a utility statement).  Grown as statements nest deeper.
CommandId* writing_cids = nullptr;
int writing_cids_room = 0;

// Makes `call` (one of the hooked calls) one level deeper than its caller,
// also when it fails: the error unwinds through here, and the lambda, which
// only refers to the hook's arguments, has nothing to destroy.  A call that
// returns has processed what it was asked for: rows its statement counted
// and did not confirm were not written, and the rows it took through its
// triggers passed row-level security (a refusal held for one is raised).
// Cheap when nothing waits for confirmation and nothing is held.
template <typename Call> void one_level_deeper(CommandId writing_cid, const Call& call)
{
    // Before the level is entered: running out of memory leaves it as it
    // was.  A level's command id is set as it is entered, read only while
    // it runs.
    make_room_for_item(&writing_cids, nesting_level + 1, &writing_cids_room, 16, TopMemoryContext);
    ++nesting_level;
    writing_cids[nesting_level] = writing_cid;
    PG_TRY();
    {
        call();
    }
    PG_FINALLY();
    {
        --nesting_level;
    }
    PG_END_TRY();
    take_back_unconfirmed_deeper_than(nesting_level);
    settle_updates_deeper_than(nesting_level);
    // Not as nested statements end: a PL/pgSQL loop inserting one tenant's
    // rows one by one, all skipped, would unpin and pin again per row.
    if (nesting_level == 0)
        give_back_waiting_pins();
    // Last: it raises.
    raise_refusals_held_deeper_than(nesting_level);
}

// The command id a query writes its rows with (its own or those of its
// data-modifying WITH queries), InvalidCommandId when it writes none.
CommandId writing_cid_of(const QueryDesc* query)
{
    if (query->estate == nullptr ||
        (query->operation == CMD_SELECT && !query->plannedstmt->hasModifyingCTE))
        return InvalidCommandId;
    return query->estate->es_output_cid;
}

// A statement runs its rows in ExecutorRun and, in ExecutorFinish, what
// remains of data-modifying WITH queries its result did not need (a
// PL/pgSQL `WITH t AS (INSERT ...) SELECT 1 INTO v` inserts there) and its
// AFTER triggers: both are one level deeper than the caller.  (Counting only
// ExecutorRun, rows such a WITH inserted would be taken for the outer row's,
// and the outer row taken back.)
void run_one_level_deeper(QueryDesc* query, ScanDirection direction, uint64 count,
                          bool execute_once)
{
    one_level_deeper(writing_cid_of(query), [&] {
        if (previous_run_hook != nullptr)
            previous_run_hook(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    });
}

void finish_one_level_deeper(QueryDesc* query)
{
    one_level_deeper(writing_cid_of(query), [&] {
        if (previous_finish_hook != nullptr)
            previous_finish_hook(query);
        else
            standard_ExecutorFinish(query);
    });
}

// Utility statements are statements too: COPY writes its rows without an
// executor run of its own, and so counts them at this level, with the
// command id current as it starts (nothing between here and its rows makes
// another).
void utility_one_level_deeper(PlannedStmt* statement, const char* query_string, bool read_only_tree,
                              ProcessUtilityContext context, ParamListInfo params,
                              QueryEnvironment* environment, DestReceiver* destination,
                              QueryCompletion* completion)
{
    CommandId writing_cid = InvalidCommandId;
    if (IsA(statement->utilityStmt, CopyStmt) &&
        castNode(CopyStmt, statement->utilityStmt)->is_from)
        writing_cid = GetCurrentCommandId(false);
    one_level_deeper(writing_cid, [&] {
        if (previous_utility_hook != nullptr)
            previous_utility_hook(statement, query_string, read_only_tree, context, params,
                                  environment, destination, completion);
        else
            standard_ProcessUtility(statement, query_string, read_only_tree, context, params,
                                    environment, destination, completion);
    });
}

} // namespace

int statement_nesting_level()
{
    return nesting_level;
}

CommandId statement_writing_cid(int level)
{
    if (level <= 0 || level > nesting_level)
        return InvalidCommandId;
    return writing_cids[level];
}

bool written_by_running_statement(CommandId cid, int below_level)
{
    if (cid == InvalidCommandId)
        return false;
    for (int level = std::min(below_level, nesting_level + 1) - 1; level > 0; --level)
        if (writing_cids[level] == cid)
            return true;
    return false;
}

void register_statement_nesting_hook()
{
    previous_run_hook = ExecutorRun_hook;
    ExecutorRun_hook = run_one_level_deeper;
    previous_finish_hook = ExecutorFinish_hook;
    ExecutorFinish_hook = finish_one_level_deeper;
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = utility_one_level_deeper;
}

} // namespace zechat::billing::pg
