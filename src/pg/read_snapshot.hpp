// The snapshot the extension's reads of its own tables take.
//
// Outside a parallel query: the latest, so that a change committed before
// the call is seen even inside a REPEATABLE READ transaction (limits and
// usage are enforcement state, not the caller's data).
//
// check_quota and tenant_usage are PARALLEL RESTRICTED: they run in the
// leader of a parallel query, which is then in parallel mode, where
// PostgreSQL allows no new snapshot and no new command.  There they read
// with the query's own snapshot.  What such a read finds may predate a
// configuration change whose invalidation this backend has already
// processed, so it must not be cached (tenant_terms.cpp, stored_terms.cpp).
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/snapmgr.h"
}

namespace zechat::billing::pg {

inline bool reading_in_parallel_mode()
{
    return IsInParallelMode();
}

inline Snapshot snapshot_for_reading()
{
    return reading_in_parallel_mode() ? GetActiveSnapshot() : GetLatestSnapshot();
}

} // namespace zechat::billing::pg
