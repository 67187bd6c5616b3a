#include "counter_shmem.hpp"

#include "../core/counter_table.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace zechat::billing::pg {

int zb_max_counters = 50000;

namespace {

constexpr const char* tranche_name = "zechat_billing";
constexpr const char* shmem_name = "zechat_billing counters";

// Lives in shared memory; set up once by the postmaster's startup hook (or
// the first backend on EXEC_BACKEND builds).
struct SharedCounters {
    LWLock* lock;
    // The counter table follows, aligned.
};

constexpr Size table_offset = MAXALIGN(sizeof(SharedCounters)) + 64;

SharedCounters* shared = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

Size shared_size()
{
    return add_size(table_offset, CounterTable::bytes_for(static_cast<uint32_t>(zb_max_counters)));
}

void on_shmem_request()
{
    if (previous_request_hook != nullptr)
        previous_request_hook();
    RequestAddinShmemSpace(shared_size());
    RequestNamedLWLockTranche(tranche_name, 1);
}

void on_shmem_startup()
{
    if (previous_startup_hook != nullptr)
        previous_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    shared = static_cast<SharedCounters*>(ShmemInitStruct(shmem_name, shared_size(), &found));
    if (!found) {
        shared->lock = &(GetNamedLWLockTranche(tranche_name))[0].lock;
        CounterTable::format(reinterpret_cast<char*>(shared) + table_offset,
                             static_cast<uint32_t>(zb_max_counters));
    }
    LWLockRelease(AddinShmemInitLock);
}

CounterTable* table()
{
    return CounterTable::attach(reinterpret_cast<char*>(shared) + table_offset);
}

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

// billing._counters(): the entries of this database, for billing.counters.
// No rows when the library was not preloaded (lock mode keeps no counters).
Datum counters_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (shared == nullptr)
        return (Datum)0;
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    LWLockAcquire(shared->lock, LW_SHARED);
    CounterTable* counters = table();
    for (uint32_t i = 0; i < counters->capacity(); ++i) {
        const CounterEntry* entry = counters->entry_at(i);
        if ((entry->state != CounterState::ready && entry->state != CounterState::loading) ||
            entry->key.database != MyDatabaseId)
            continue;
        Datum values[7];
        bool nulls[7] = {false, false, false, false, false, false, false};
        values[0] = CStringGetTextDatum(entry->key.tenant_id);
        values[1] = CStringGetTextDatum(entry->key.resource);
        values[2] = TimestampTzGetDatum(entry->key.period_start);
        nulls[2] = TIMESTAMP_IS_NOBEGIN(entry->key.period_start);
        values[3] = Int64GetDatum(entry->committed);
        values[4] = Int64GetDatum(entry->reserved);
        values[5] = Int64GetDatum(entry->limit.value);
        nulls[5] = entry->limit.unlimited;
        values[6] = CStringGetTextDatum(counter_state_name(entry->state));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    LWLockRelease(shared->lock);
    return (Datum)0;
}

} // namespace

void request_counter_shmem()
{
    previous_request_hook = shmem_request_hook;
    shmem_request_hook = on_shmem_request;
    previous_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_shmem_startup;
}

bool counter_shmem_available()
{
    return shared != nullptr;
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_counters, zechat::billing::pg::counters_body)
}
