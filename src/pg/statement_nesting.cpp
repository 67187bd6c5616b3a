#include "statement_nesting.hpp"

#include "insert_confirmation.hpp"
#include "pg_headers.hpp"

extern "C" {
#include "executor/executor.h"
#include "tcop/utility.h"
}

namespace zechat::billing::pg {

namespace {

ExecutorRun_hook_type previous_run_hook = nullptr;
ExecutorFinish_hook_type previous_finish_hook = nullptr;
ProcessUtility_hook_type previous_utility_hook = nullptr;
int nesting_level = 0;

// Makes `call` (one of the hooked calls) one level deeper than its caller,
// also when it fails: the error unwinds through here, and the lambda, which
// only refers to the hook's arguments, has nothing to destroy.  A call that
// returns has processed what it was asked for: rows its statement counted
// and did not confirm were not written.  Cheap when nothing waits for
// confirmation.
template <typename Call> void one_level_deeper(const Call& call)
{
    ++nesting_level;
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
}

// A statement runs its rows in ExecutorRun and, in ExecutorFinish, what
// remains of data-modifying WITH queries its result did not need (a
// PL/pgSQL `WITH t AS (INSERT ...) SELECT 1 INTO v` inserts there) and its
// AFTER triggers: both are one level deeper than the caller.  (Counting only
// ExecutorRun, rows such a WITH inserted were taken for the outer row's, and
// the outer row was taken back: found by a review on 2026-12-05.)
void run_one_level_deeper(QueryDesc* query, ScanDirection direction, uint64 count,
                          bool execute_once)
{
    one_level_deeper([&] {
        if (previous_run_hook != nullptr)
            previous_run_hook(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    });
}

void finish_one_level_deeper(QueryDesc* query)
{
    one_level_deeper([&] {
        if (previous_finish_hook != nullptr)
            previous_finish_hook(query);
        else
            standard_ExecutorFinish(query);
    });
}

// Utility statements are statements too: COPY writes its rows without an
// executor run of its own, and so counts them at this level.
void utility_one_level_deeper(PlannedStmt* statement, const char* query_string, bool read_only_tree,
                              ProcessUtilityContext context, ParamListInfo params,
                              QueryEnvironment* environment, DestReceiver* destination,
                              QueryCompletion* completion)
{
    one_level_deeper([&] {
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
