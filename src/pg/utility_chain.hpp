// Our ProcessUtility hooks (dropped_database.cpp, config_invalidation.cpp)
// each pass the statement on to the hook installed before them, or to
// PostgreSQL's own.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "tcop/utility.h"
}

namespace zechat::billing::pg {

inline void run_next_utility(ProcessUtility_hook_type next, PlannedStmt* statement,
                             const char* query_string, bool read_only_tree,
                             ProcessUtilityContext context, ParamListInfo params,
                             QueryEnvironment* environment, DestReceiver* destination,
                             QueryCompletion* completion)
{
    if (next != nullptr)
        next(statement, query_string, read_only_tree, context, params, environment, destination,
             completion);
    else
        standard_ProcessUtility(statement, query_string, read_only_tree, context, params,
                                environment, destination, completion);
}

} // namespace zechat::billing::pg
