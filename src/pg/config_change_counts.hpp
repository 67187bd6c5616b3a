// Cluster-wide counts of configuration changes, by which a backend knows
// that the terms it cached may be stale before PostgreSQL's invalidation
// messages reach it (tenant_terms.hpp; counted by config_invalidation.cpp).
// Kept in the shared-memory region of the counters
// (counter_shmem_internal.hpp): they exist only when the library is
// preloaded, and read 0 / false otherwise.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// Configuration changes committed in the cluster, counted by each
// transaction that changed a configuration table right after its change
// became visible, before its invalidation messages go out (PostgreSQL sends
// them a moment later): a backend that sees the count move drops the terms
// it cached at once (tenant_terms.hpp).  Always 0 without shared memory.
uint64 config_changes_committed();
void count_config_change_committed();

// Configuration changes between their PRE_COMMIT and their COMMIT (or
// ABORT) callback: such a change may already be visible (PostgreSQL makes
// it so in between) with its commit not counted yet, and a backend reads
// terms from the tables, not its cache, while any is.  So does one that
// waited for a schedule change made in a released savepoint: the wait ends
// once the transaction leaves the list of running ones, before its COMMIT
// callback (otherwise such a consumer would keep the old period, and the
// tenant could pass its limit).  Always false without shared memory.
bool config_change_committing();
void count_config_change_committing(bool begins);

} // namespace zechat::billing::pg
