// billing.counters (billing._counters()): the entries of the shared-memory
// counter table of this database and installation, read a stretch at a time
// under the table's lock (counter_shmem_internal.hpp).
#include "counter_shmem_internal.hpp"

#include <algorithm>

#include "../core/counter_table.hpp"
#include "billing_catalog.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace zechat::billing::pg {

namespace {

const char* counter_state_name(CounterState state)
{
    switch (state) {
    case CounterState::loading:
        return "loading";
    case CounterState::ready:
        return "ready";
    default:
        return "free";
    }
}

// One entry as billing.counters shows it, copied out under the lock.
struct CounterRow {
    CounterKey key;
    CounterState state;
    int64 committed;
    int64 reserved;
    int64 releasing;
    int64 carried_elsewhere;
    Limit limit;
};

// Rows copied out of the table, in memory of the caller's context.
struct CopiedRows {
    CounterRow* rows;
    uint32 count;
    uint32 room;
};

// Copies the entries of this database and installation among entries
// [first, first + entries_per_hold) onto `copied`.  The caller holds the
// lock; plain data only, but the rows may have to grow.
void copy_counter_rows(uint32 first, uint32 store, CopiedRows* copied)
{
    CounterTable* counters = counter_table();
    uint32 end = std::min(counters->capacity(), first + entries_per_hold);
    if (copied->room - copied->count < end - first) {
        copied->room = std::max(copied->room * 2, copied->count + entries_per_hold);
        copied->rows = static_cast<CounterRow*>(
            repalloc_huge(copied->rows, sizeof(CounterRow) * static_cast<Size>(copied->room)));
    }
    for (uint32 i = first; i < end; ++i) {
        const CounterEntry* entry = counters->entry_at(i);
        if ((entry->state != CounterState::ready && entry->state != CounterState::loading) ||
            entry->key.database != MyDatabaseId)
            continue;
        if (entry->key.store != store)
            continue; // left by an earlier installation of the extension
        if (entry->key.period_start == group_period)
            continue; // no counter: the group of a moved tenant's periods
        copied->rows[copied->count++] =
            CounterRow{entry->key,      entry->state,     entry->committed,
                       entry->reserved, entry->releasing, counters->carried_elsewhere(*entry),
                       entry->limit};
    }
}

// Reads of the table a stretch at a time before the one that holds the lock
// throughout.
constexpr int stretched_reads = 3;

// The entries of this database and installation.  Read a stretch at a time,
// releasing the lock in between, and kept only if no key was placed
// meanwhile: a key evicted and placed again in another entry would be seen
// twice, or not at all.  Each row is an entry as it was when read, not all
// at one instant; a key placed or removed during the read may be there or
// not.  Should keys be placed during every try (a full table evicting for
// new keys all the time), the last holds the lock throughout, copying plain
// data only.
void read_counter_rows(uint32 store, CopiedRows* copied)
{
    for (int attempt = 0;; ++attempt) {
        bool hold_throughout = attempt == stretched_reads;
        copied->count = 0;
        LWLockAcquire(shared_counters->lock, LW_SHARED);
        uint64 placements = counter_table()->placements();
        for (uint32 first = 0; first < counter_table()->capacity(); first += entries_per_hold) {
            if (first > 0 && !hold_throughout) {
                LWLockRelease(shared_counters->lock);
                let_waiters_have_the_lock();
                LWLockAcquire(shared_counters->lock, LW_SHARED);
            }
            copy_counter_rows(first, store, copied);
        }
        bool unchanged = counter_table()->placements() == placements;
        LWLockRelease(shared_counters->lock);
        if (unchanged || hold_throughout)
            return;
    }
}

// billing._counters(): the entries of this database and installation of the
// extension, for billing.counters.
// No rows when the library was not preloaded (lock mode keeps no counters).
Datum counters_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (shared_counters == nullptr)
        return (Datum)0;
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    uint32 store = static_cast<uint32>(billing_usage_relation());
    CopiedRows copied{static_cast<CounterRow*>(palloc(sizeof(CounterRow) * entries_per_hold)), 0,
                      entries_per_hold};
    read_counter_rows(store, &copied);
    // The rows are built with the lock released: that allocates, and may
    // write the tuple store out to disk.
    for (uint32 r = 0; r < copied.count; ++r) {
        const CounterRow& row = copied.rows[r];
        // An installation not yet updated to 1.1 has no carried_in column:
        // the tuple store takes the columns its descriptor has.
        Datum values[9];
        bool nulls[9] = {false, false, false, false, false, false, false, false, false};
        values[0] = CStringGetTextDatum(row.key.tenant_id);
        values[1] = CStringGetTextDatum(row.key.resource);
        values[2] = TimestampTzGetDatum(row.key.period_start);
        nulls[2] = TIMESTAMP_IS_NOBEGIN(row.key.period_start);
        values[3] = Int64GetDatum(row.committed);
        values[4] = Int64GetDatum(row.reserved);
        values[5] = Int64GetDatum(row.releasing);
        values[6] = Int64GetDatum(row.limit.value);
        nulls[6] = row.limit.unlimited;
        values[7] = CStringGetTextDatum(counter_state_name(row.state));
        values[8] = Int64GetDatum(row.carried_elsewhere);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    pfree(copied.rows);
    return (Datum)0;
}

} // namespace

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_counters, zechat::billing::pg::counters_body)
}
