#include "statement_nesting.hpp"

#include "insert_confirmation.hpp"
#include "pg_headers.hpp"

extern "C" {
#include "executor/executor.h"
}

namespace zechat::billing::pg {

namespace {

ExecutorRun_hook_type previous_run_hook = nullptr;
int nesting_level = 0;

// Counts the level around the run, also when it fails (the error unwinds
// through here, with no C++ object in this frame).  A run that returns has
// processed the rows it was asked for: those its statement counted and did
// not confirm were not written.  Cheap when nothing waits for confirmation.
void run_one_level_deeper(QueryDesc* query, ScanDirection direction, uint64 count,
                          bool execute_once)
{
    ++nesting_level;
    PG_TRY();
    {
        if (previous_run_hook != nullptr)
            previous_run_hook(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    }
    PG_FINALLY();
    {
        --nesting_level;
    }
    PG_END_TRY();
    take_back_unconfirmed_deeper_than(nesting_level);
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
}

} // namespace zechat::billing::pg
