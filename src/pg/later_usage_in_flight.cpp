// billing._later_usage_in_flight(tenant_id, period_from): see
// later_usage_in_flight.hpp and late_schedule_changes.hpp.
//
// Lock mode: the first admission of a key in a transaction writes its row,
// so a consumer in flight is a writer of a row of the tenant's
// (tenant_row_in_flight_from).  Shared-memory mode: a consumer in flight
// pins the key's counter until it ends; its row is written only just
// before its commit, so both are asked.
#include "later_usage_in_flight.hpp"

#include <algorithm>
#include <cstring>

#include "../core/counter_table.hpp"
#include "../core/tenant_key.hpp"
#include "billing_catalog.hpp"
#include "counter_shmem_internal.hpp"
#include "pending_usage.hpp"
#include "pg_boundary.hpp"
#include "quota_input.hpp"
#include "usage_part_rows.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// A counter of the tenant's as the scan saw it, copied under the lock.
struct PinnedCounter {
    const CounterEntry* entry;
    CounterKey key;
    uint32 pins;
};

// Copies the counters of `tenant` (database, installation and tenant of its
// key) among entries [first, end) that are pinned, for a period starting at
// or after its period_start, onto `found`.  The caller holds the lock.
uint32 copy_pinned_counters(const CounterKey& tenant, uint32 first, uint32 end,
                            PinnedCounter* found)
{
    uint32 count = 0;
    for (uint32 i = first; i < end; ++i) {
        const CounterEntry* entry = counter_table()->entry_at(i);
        if (entry->state != CounterState::ready && entry->state != CounterState::loading)
            continue;
        if (entry->pins == 0 || entry->key.period_start < tenant.period_start ||
            entry->key.database != tenant.database || entry->key.store != tenant.store ||
            std::memcmp(entry->key.tenant_id, tenant.tenant_id, sizeof tenant.tenant_id) != 0)
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

// Shared-memory mode: the resource of a counter of the tenant's for a
// period starting at or after `from` that another transaction pins (it
// consumed there, or is loading the counter to), or nullptr.  A stretch of
// the table at a time, as billing.counters reads it; a counter placed
// behind the scan is a consumption that began after it.
char* counter_in_flight_from(const char* tenant_id, TimestampTz from)
{
    CounterKey tenant =
        make_counter_key(MyDatabaseId, static_cast<uint32>(billing_usage_relation()), tenant_id,
                         std::strlen(tenant_id), "", 0, from);
    auto* found = static_cast<PinnedCounter*>(palloc(sizeof(PinnedCounter) * entries_per_hold));
    char* resource = nullptr;
    uint32 capacity = counter_table()->capacity();
    for (uint32 first = 0; first < capacity && resource == nullptr; first += entries_per_hold) {
        if (first > 0)
            let_waiters_have_the_lock();
        LWLockAcquire(shared_counters->lock, LW_SHARED);
        uint32 count = copy_pinned_counters(tenant, first,
                                            std::min(capacity, first + entries_per_hold), found);
        LWLockRelease(shared_counters->lock);
        for (uint32 c = 0; c < count && resource == nullptr; ++c)
            if (pinned_by_others(found[c]))
                resource = pstrdup(found[c].key.resource);
    }
    pfree(found);
    return resource;
}

Datum later_usage_in_flight_body(FunctionCallInfo fcinfo)
{
    char* resource =
        later_usage_in_flight(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1));
    if (resource == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(resource));
}

} // namespace

char* later_usage_in_flight(const char* tenant_id, TimestampTz from)
{
    // A tenant id no key can have has no counter.
    bool may_have_counters = shared_counters != nullptr &&
                             check_tenant_id(std::strlen(tenant_id)) == TenantIdProblem::none;
    char* resource = may_have_counters ? counter_in_flight_from(tenant_id, from) : nullptr;
    return resource != nullptr ? resource : tenant_row_in_flight_from(tenant_id, from);
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_later_usage_in_flight, zechat::billing::pg::later_usage_in_flight_body)
}
