// Consumption in flight in tenants' later periods: see
// later_usage_in_flight.hpp and late_schedule_changes.hpp.
//
// Lock mode: the first admission of a key in a transaction writes its row,
// so a consumer in flight is a writer of a row of the tenant's
// (tenant_rows_in_flight_from).  Shared-memory mode: a consumer in flight
// pins the key's counter until it ends; its row is written only just
// before its commit, so both are asked.
#include "later_usage_in_flight.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "../core/counter_table.hpp"
#include "billing_catalog.hpp"
#include "counter_shmem_internal.hpp"
#include "pending_usage.hpp"
#include "quota_input.hpp"
#include "usage_part_rows.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/lwlock.h"
}

namespace zechat::billing::pg {

namespace {

// A pinned counter of this database and installation as the pass saw it,
// copied under the lock.
struct PinnedCounter {
    const CounterEntry* entry;
    CounterKey key;
    uint32 pins;
};

// Copies the pinned counters of this database and installation (database
// and store of `installation`) among entries [first, end), for periods
// starting at or after `from`, onto `found`.  The caller holds the lock.
uint32 copy_pinned_counters(const CounterKey& installation, TimestampTz from, uint32 first,
                            uint32 end, PinnedCounter* found)
{
    uint32 count = 0;
    for (uint32 i = first; i < end; ++i) {
        const CounterEntry* entry = counter_table()->entry_at(i);
        if (entry->state != CounterState::ready && entry->state != CounterState::loading)
            continue;
        if (entry->pins == 0 || entry->key.period_start < from ||
            entry->key.database != installation.database || entry->key.store != installation.store)
            continue;
        found[count++] = PinnedCounter{entry, entry->key, entry->pins};
    }
    return count;
}

// Is the counter pinned by a transaction other than this one?  This one
// pins it once, through the entry that tracks its key, if any.
bool pinned_by_others(const PinnedCounter& counter)
{
    QuotaKey key = make_quota_key(counter.key.tenant_id, counter.key.resource);
    PendingUsage* own = find_pending_usage(key, counter.key.period_start);
    uint32 own_pins = own != nullptr && pending_counter(own) == counter.entry ? 1 : 0;
    return counter.pins > own_pins;
}

int by_tenant_id(const void* a, const void* b)
{
    return std::strcmp(static_cast<const LaterPeriods*>(a)->tenant_id,
                       static_cast<const LaterPeriods*>(b)->tenant_id);
}

// The tenant of `counter` among `tenants` (sorted), if the counter's period
// is one of its later ones: its index, or -1.
int later_tenant_of(const PinnedCounter& counter, const LaterPeriods* tenants, int count)
{
    LaterPeriods wanted{counter.key.tenant_id, 0};
    auto* match = static_cast<const LaterPeriods*>(std::bsearch(
        &wanted, tenants, static_cast<size_t>(count), sizeof(LaterPeriods), by_tenant_id));
    if (match == nullptr)
        return -1;
    // A tenant noted more than once comes in a run: any of its starts.
    while (match > tenants && by_tenant_id(match - 1, &wanted) == 0)
        --match;
    for (; match < tenants + count && by_tenant_id(match, &wanted) == 0; ++match)
        if (counter.key.period_start >= match->from)
            return static_cast<int>(match - tenants);
    return -1;
}

// Shared-memory mode: one of `tenants` (sorted) with a counter of a
// later period that another transaction pins (it consumed there, or is
// loading the counter to), or -1.  One pass over the table, a stretch at a
// time, as billing.counters reads it; a counter placed behind the pass is
// a consumption that began after it.
int counter_in_flight(const LaterPeriods* tenants, int count, char** resource)
{
    TimestampTz from = DT_NOEND;
    for (int t = 0; t < count; ++t)
        from = std::min(from, tenants[t].from);
    CounterKey installation = make_counter_key(
        MyDatabaseId, static_cast<uint32>(billing_usage_relation()), "", 0, "", 0, from);
    auto* found = static_cast<PinnedCounter*>(palloc(sizeof(PinnedCounter) * entries_per_hold));
    int tenant = -1;
    uint32 capacity = counter_table()->capacity();
    for (uint32 first = 0; first < capacity && tenant < 0; first += entries_per_hold) {
        if (first > 0)
            let_waiters_have_the_lock();
        LWLockAcquire(shared_counters->lock, LW_SHARED);
        uint32 copied = copy_pinned_counters(installation, from, first,
                                             std::min(capacity, first + entries_per_hold), found);
        LWLockRelease(shared_counters->lock);
        for (uint32 c = 0; c < copied && tenant < 0; ++c) {
            int t = later_tenant_of(found[c], tenants, count);
            if (t >= 0 && pinned_by_others(found[c])) {
                tenant = t;
                *resource = pstrdup(found[c].key.resource);
            }
        }
    }
    pfree(found);
    return tenant;
}

} // namespace

int later_usage_in_flight(LaterPeriods* tenants, int count, char** resource)
{
    if (count == 0)
        return -1;
    qsort(tenants, static_cast<size_t>(count), sizeof(LaterPeriods), by_tenant_id);
    if (shared_counters != nullptr) {
        // A tenant id no key can have has no counter; it just finds none.
        int tenant = counter_in_flight(tenants, count, resource);
        if (tenant >= 0)
            return tenant;
    }
    return tenant_rows_in_flight_from(tenants, count, resource);
}

} // namespace zechat::billing::pg
