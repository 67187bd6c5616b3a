#include <cstring>

#include "shared_hints.hpp"

#include "../core/lossy_slots.hpp"
#include "counter_shmem.hpp"
#include "module_settings.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
}

namespace zechat::billing::pg {

namespace {

constexpr const char* shmem_name = "zechat_billing shared hints";

struct TermsHint {
    TermsStamp stamp;
    StoredTerms terms;
};

static_assert(sizeof(PartHintKey) % 8 == 0 && sizeof(PartHint) % 8 == 0 &&
                  sizeof(TermsHintKey) % 8 == 0 && sizeof(TermsHint) % 8 == 0,
              "lossy slot keys and values are compared and hashed in words");

// One lossy table and the spinlocks of its slots.
struct HintTable {
    Size locks_offset; // from the start of the shared block
    Size slots_offset;
};

struct SharedHints {
    HintTable parts;
    HintTable terms;
    pg_atomic_uint64 terms_invalidations; // TermsStamp::invalidations
};

SharedHints* shared = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

uint32 slot_count()
{
    return static_cast<uint32>(zb_max_counters);
}

// Lays out one table from `offset` on; returns where the next may start.
Size lay_out(HintTable* table, Size offset, uint32 key_size, uint32 value_size)
{
    table->locks_offset = offset;
    offset = add_size(offset, MAXALIGN(mul_size(slot_count(), sizeof(slock_t))));
    table->slots_offset = offset;
    return add_size(offset, MAXALIGN(LossySlots::bytes_for(slot_count(), key_size, value_size)));
}

Size layout(SharedHints* hints)
{
    Size offset = MAXALIGN(sizeof(SharedHints));
    offset = lay_out(&hints->parts, offset, sizeof(PartHintKey), sizeof(PartHint));
    offset = lay_out(&hints->terms, offset, sizeof(TermsHintKey), sizeof(TermsHint));
    return offset;
}

Size shared_size()
{
    SharedHints scratch;
    return layout(&scratch);
}

char* block()
{
    return reinterpret_cast<char*>(shared);
}

slock_t* locks_of(const HintTable& table)
{
    return reinterpret_cast<slock_t*>(block() + table.locks_offset);
}

LossySlots* slots_of(const HintTable& table)
{
    return LossySlots::attach(block() + table.slots_offset);
}

void format(const HintTable& table, uint32 key_size, uint32 value_size)
{
    slock_t* locks = locks_of(table);
    for (uint32 i = 0; i < slot_count(); ++i)
        SpinLockInit(&locks[i]);
    LossySlots::format(block() + table.slots_offset, slot_count(), key_size, value_size);
}

void on_shmem_request()
{
    if (previous_request_hook != nullptr)
        previous_request_hook();
    RequestAddinShmemSpace(shared_size());
}

void on_shmem_startup()
{
    if (previous_startup_hook != nullptr)
        previous_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    shared = static_cast<SharedHints*>(ShmemInitStruct(shmem_name, shared_size(), &found));
    if (!found) {
        (void)layout(shared);
        format(shared->parts, sizeof(PartHintKey), sizeof(PartHint));
        format(shared->terms, sizeof(TermsHintKey), sizeof(TermsHint));
        pg_atomic_init_u64(&shared->terms_invalidations, 0);
    }
    LWLockRelease(AddinShmemInitLock);
}

bool find_in(const HintTable& table, const void* key, void* value)
{
    LossySlots* slots = slots_of(table);
    uint32 slot = slots->slot_of(key);
    slock_t* lock = &locks_of(table)[slot];
    SpinLockAcquire(lock);
    bool found = slots->read(slot, key, value);
    SpinLockRelease(lock);
    return found;
}

void publish_in(const HintTable& table, const void* key, const void* value)
{
    LossySlots* slots = slots_of(table);
    uint32 slot = slots->slot_of(key);
    slock_t* lock = &locks_of(table)[slot];
    SpinLockAcquire(lock);
    slots->write(slot, key, value);
    SpinLockRelease(lock);
}

} // namespace

void request_shared_hints()
{
    previous_request_hook = shmem_request_hook;
    shmem_request_hook = on_shmem_request;
    previous_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_shmem_startup;
}

bool shared_hints_available()
{
    return shared != nullptr;
}

bool find_part_hint(const PartHintKey& key, PartHint* hint)
{
    return shared != nullptr && find_in(shared->parts, &key, hint);
}

void publish_part_hint(const PartHintKey& key, const PartHint& hint)
{
    if (shared != nullptr)
        publish_in(shared->parts, &key, &hint);
}

uint64 current_terms_invalidations()
{
    if (shared == nullptr)
        return 0;
    uint64 invalidations = pg_atomic_read_u64(&shared->terms_invalidations);
    pg_read_barrier(); // before what the caller reads next
    return invalidations;
}

bool find_terms_hint(const TermsHintKey& key, const TermsStamp& stamp, StoredTerms* terms)
{
    TermsHint hint;
    if (shared == nullptr || !find_in(shared->terms, &key, &hint) ||
        hint.stamp.changes_committed != stamp.changes_committed ||
        hint.stamp.invalidations != stamp.invalidations)
        return false;
    *terms = hint.terms;
    return true;
}

void publish_terms_hint(const TermsHintKey& key, const TermsStamp& stamp, const StoredTerms& terms)
{
    if (shared == nullptr)
        return;
    TermsHint hint;
    std::memset(&hint, 0, sizeof hint);
    hint.stamp = stamp;
    hint.terms = terms;
    publish_in(shared->terms, &key, &hint);
}

void count_terms_invalidation()
{
    if (shared != nullptr)
        (void)pg_atomic_fetch_add_u64(&shared->terms_invalidations, 1);
}

} // namespace zechat::billing::pg
