// The shared-memory counter table (src/core/counter_table.hpp) when the
// library is in shared_preload_libraries.
//
// Locking protocol: one LWLock (tranche "zechat_billing") guards the whole
// table; readers (billing.counters) take it shared.  The table is created
// and shown, but nothing fills it yet: admission still runs in lock mode
// (usage_store.hpp) in both configurations.  Shared-memory admission, which
// will place, load, reserve and evict here, is the next step (issue 3).
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// zechat_billing.max_counters: entries of the table (postmaster setting).
extern int zb_max_counters;

// Called from _PG_init while shared_preload_libraries is processed: asks for
// the memory and the lock, and installs the startup hook.
void request_counter_shmem();

// True in a backend of a server that preloaded the library.
bool counter_shmem_available();

} // namespace zechat::billing::pg
