#include "counter_table.hpp"

#include <cstring>

#include "key_hash.hpp"
#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

// Entries start on a cache line of their own after the header.
constexpr std::size_t entries_offset = 64;
static_assert(sizeof(CounterTableHeader) <= entries_offset, "header must fit before the entries");

void copy_padded(char* field, std::size_t field_size, const char* text, std::size_t length) noexcept
{
    std::memset(field, 0, field_size);
    std::memcpy(field, text, length < field_size - 1 ? length : field_size - 1);
}

} // namespace

CounterKey make_counter_key(uint32_t database, uint32_t store, const char* tenant_id,
                            std::size_t tenant_length, const char* resource,
                            std::size_t resource_length, int64_t period_start) noexcept
{
    CounterKey key;
    std::memset(&key, 0, sizeof key);
    key.database = database;
    key.store = store;
    copy_padded(key.tenant_id, sizeof key.tenant_id, tenant_id, tenant_length);
    copy_padded(key.resource, sizeof key.resource, resource, resource_length);
    key.period_start = period_start;
    return key;
}

uint32_t hash_counter_key(const CounterKey& key) noexcept
{
    // Keys are built zeroed (padding included), so hashing the bytes is
    // hashing the value; this runs under the table's lock on every first use
    // of a key in a transaction.
    static_assert(sizeof(CounterKey) % sizeof(uint64_t) == 0, "keys hash as whole words");
    return hash_key_words(&key, sizeof key);
}

bool same_counter_key(const CounterKey& a, const CounterKey& b) noexcept
{
    return std::memcmp(&a, &b, sizeof a) == 0;
}

std::size_t CounterTable::bytes_for(uint32_t capacity) noexcept
{
    return entries_offset + static_cast<std::size_t>(capacity) * sizeof(CounterEntry);
}

CounterTable* CounterTable::format(void* block, uint32_t capacity) noexcept
{
    std::memset(block, 0, bytes_for(capacity));
    auto* table = static_cast<CounterTable*>(block);
    table->header_.capacity = capacity;
    return table;
}

CounterTable* CounterTable::attach(void* block) noexcept
{
    return static_cast<CounterTable*>(block);
}

CounterEntry* CounterTable::entries() noexcept
{
    return reinterpret_cast<CounterEntry*>(reinterpret_cast<char*>(this) + entries_offset);
}

uint32_t CounterTable::home_of(const CounterKey& key) const noexcept
{
    return hash_counter_key(key) % header_.capacity;
}

CounterEntry* CounterTable::find(const CounterKey& key) noexcept
{
    const uint32_t capacity = header_.capacity;
    uint32_t slot = home_of(key);
    for (uint32_t probes = 0; probes < capacity; ++probes) {
        CounterEntry* entry = &entries()[slot];
        if (entry->state == CounterState::empty)
            return nullptr;
        if (entry->state != CounterState::tombstone && same_counter_key(entry->key, key))
            return entry;
        slot = slot + 1 == capacity ? 0 : slot + 1;
    }
    return nullptr;
}

CounterEntry* CounterTable::find_or_place(const CounterKey& key, bool* placed) noexcept
{
    *placed = false;
    const uint32_t capacity = header_.capacity;
    if (capacity == 0)
        return nullptr;
    CounterEntry* free_slot = nullptr;
    uint32_t slot = home_of(key);
    for (uint32_t probes = 0; probes < capacity; ++probes) {
        CounterEntry* entry = &entries()[slot];
        if (entry->state == CounterState::empty) {
            if (free_slot == nullptr)
                free_slot = entry;
            break;
        }
        if (entry->state == CounterState::tombstone) {
            if (free_slot == nullptr)
                free_slot = entry;
        } else if (same_counter_key(entry->key, key)) {
            return entry;
        }
        slot = slot + 1 == capacity ? 0 : slot + 1;
    }
    // Not present.  With no empty slot on the way every slot was probed, so
    // an entry placed anywhere is found by the next full probe.
    if (free_slot == nullptr)
        free_slot = evict_least_recently_used();
    if (free_slot == nullptr)
        return nullptr;

    std::memset(free_slot, 0, sizeof *free_slot);
    free_slot->key = key;
    free_slot->state = CounterState::loading;
    free_slot->pins = 1; // the loader's
    free_slot->limit = Limit::of(0);
    free_slot->last_used = ++header_.clock;
    ++header_.live;
    *placed = true;
    return free_slot;
}

void CounterTable::finish_load(CounterEntry* entry, int64_t committed) noexcept
{
    entry->committed = committed;
    entry->state = CounterState::ready;
}

void CounterTable::abandon_load(CounterEntry* entry) noexcept
{
    entry->state = CounterState::tombstone;
    entry->pins = 0;
    --header_.live;
}

void CounterTable::pin(CounterEntry* entry) noexcept
{
    ++entry->pins;
    entry->last_used = ++header_.clock;
}

void CounterTable::unpin(CounterEntry* entry) noexcept
{
    if (entry->pins > 0)
        --entry->pins;
}

bool CounterTable::is_idle(const CounterEntry& entry) noexcept
{
    return entry.state == CounterState::ready && entry.reserved == 0 && entry.releasing == 0 &&
           entry.pins == 0;
}

bool CounterTable::remove_if_idle(CounterEntry* entry) noexcept
{
    if (!is_idle(*entry))
        return false;
    entry->state = CounterState::tombstone;
    --header_.live;
    return true;
}

CounterEntry* CounterTable::evict_least_recently_used() noexcept
{
    CounterEntry* victim = nullptr;
    for (uint32_t i = 0; i < header_.capacity; ++i) {
        CounterEntry* entry = &entries()[i];
        if (is_idle(*entry) && (victim == nullptr || entry->last_used < victim->last_used))
            victim = entry;
    }
    if (victim != nullptr && remove_if_idle(victim))
        return victim;
    return nullptr;
}

namespace {

using wide = __int128;

int64_t saturate(wide value) noexcept
{
    if (value > INT64_MAX)
        return INT64_MAX;
    if (value < INT64_MIN)
        return INT64_MIN;
    return static_cast<int64_t>(value);
}

} // namespace

Admission CounterTable::reserve(CounterEntry* entry, int64_t amount, Limit limit,
                                int64_t own_released) noexcept
{
    entry->limit = limit;
    entry->last_used = ++header_.clock;
    wide held = static_cast<wide>(entry->committed) + entry->reserved;
    wide in_use = held - own_released;
    if (in_use < 0)
        in_use = 0;
    if (in_use > INT64_MAX)
        return Admission{AdmissionResult::overflow, INT64_MAX};
    Admission admission = admit(static_cast<int64_t>(in_use), limit, amount);
    if (admission.result != AdmissionResult::admitted)
        return admission;
    // What the entry holds once everything in flight commits, whatever the
    // caller gave back, stays an int64: then `reserved` never saturates,
    // and settling subtracts exactly what was added.
    if (held + amount > INT64_MAX)
        return Admission{AdmissionResult::overflow, INT64_MAX};
    entry->reserved += amount;
    return admission;
}

int64_t CounterTable::release(CounterEntry* entry, int64_t amount, int64_t own_reserved,
                              bool of_stored_rows) noexcept
{
    entry->last_used = ++header_.clock;
    wide spare = static_cast<wide>(entry->committed) +
                 (of_stored_rows ? entry->reserved : own_reserved) - entry->releasing;
    int64_t given = spare <= 0 ? 0 : (spare < amount ? static_cast<int64_t>(spare) : amount);
    entry->releasing += given;
    return given;
}

bool CounterTable::force(CounterEntry* entry, int64_t delta) noexcept
{
    if (delta > 0) {
        // The same bound as reserve()'s.
        if (static_cast<wide>(entry->committed) + entry->reserved + delta > INT64_MAX)
            return false;
        entry->reserved += delta;
    } else {
        entry->releasing = saturate(static_cast<wide>(entry->releasing) - delta);
    }
    return true;
}

int64_t CounterTable::begin_commit(CounterEntry* entry, int64_t net) noexcept
{
    int64_t before = saturate(static_cast<wide>(entry->committed) + entry->committing);
    entry->committing = saturate(static_cast<wide>(entry->committing) + net);
    return before;
}

void CounterTable::settle(CounterEntry* entry, int64_t reserved, int64_t released, bool commit,
                          int64_t committing) noexcept
{
    entry->committing -= committing;
    entry->reserved -= reserved;
    entry->releasing -= released;
    if (commit)
        entry->committed =
            saturate(static_cast<wide>(entry->committed) + reserved - released);
}

} // namespace zechat::billing
