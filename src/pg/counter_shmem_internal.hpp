// The shared-memory region of counter_shmem.cpp, for the files that use it
// besides the counter operations: counters_view.cpp (billing.counters) and
// config_change_counts.cpp.
// Not for other callers: they go through counter_shmem.hpp.
#pragma once

#include "counter_shmem.hpp"

extern "C" {
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
}

namespace zechat::billing {
class CounterTable;
} // namespace zechat::billing

namespace zechat::billing::pg {

// Lives in shared memory; set up once by the postmaster's startup hook (or
// the first backend on EXEC_BACKEND builds).
struct SharedCounters {
    LWLock* lock;
    ConditionVariable loaded;        // broadcast when a load finishes or fails
    ConditionVariable settled;       // broadcast when a moved counter's last pass settles
    pg_atomic_uint64 config_changes; // config_changes_committed() (config_change_counts.hpp)
    pg_atomic_uint32 config_changes_committing; // config_change_committing()
    // The counter table follows, aligned, then the moves of absent keys.
};

// The region; nullptr when the library was not preloaded (lock mode keeps
// no counters).
extern SharedCounters* shared_counters;

// The counter table in the region.
CounterTable* counter_table();

// Entries looked at per hold of the lock by what goes through the whole
// table (billing.counters, DROP DATABASE): every consumption waits for the
// lock meanwhile, and the table can hold millions of entries.
constexpr uint32 entries_per_hold = 1024;

// Between two such holds.  An LWLock is not handed over: the backends a
// release wakes try again when they get to run, by when a loop that took
// the lock straight back holds it again, and a million short holds would
// shut them out as long as one long hold does (measured: consumption
// stopped for the 3 s a DROP DATABASE took to go through 10 million
// entries).  A short sleep lets them have their turn.
void let_waiters_have_the_lock();

} // namespace zechat::billing::pg
