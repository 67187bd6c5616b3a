#include "dropped_database.hpp"

#include "counter_shmem.hpp"
#include "pg_headers.hpp"
#include "shared_hints.hpp"
#include "utility_chain.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "tcop/utility.h"
}

namespace zechat::billing::pg {

namespace {

ProcessUtility_hook_type previous_utility_hook = nullptr;

// The counters go once the drop has gone through, still inside its
// transaction: nobody can connect to the database any more, nor create
// another under its OID before that transaction commits.  Should the commit
// fail, the counters were idle and are loaded again when needed.
void forget_counters_of_dropped_database(PlannedStmt* statement, const char* query_string,
                                         bool read_only_tree, ProcessUtilityContext context,
                                         ParamListInfo params, QueryEnvironment* environment,
                                         DestReceiver* destination, QueryCompletion* completion)
{
    Oid dropped = InvalidOid;
    if (IsA(statement->utilityStmt, DropdbStmt))
        dropped = get_database_oid(castNode(DropdbStmt, statement->utilityStmt)->dbname, true);
    run_next_utility(previous_utility_hook, statement, query_string, read_only_tree, context,
                     params, environment, destination, completion);
    if (!OidIsValid(dropped))
        return;
    count_terms_invalidation();
    if (uint32 left = counter_forget_database(dropped); left > 0)
        elog(LOG, "zechat_billing: %u counters of dropped database %u were still in use", left,
             dropped);
}

} // namespace

void register_dropped_database_hook()
{
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = forget_counters_of_dropped_database;
}

} // namespace zechat::billing::pg
