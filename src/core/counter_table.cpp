#include "counter_table.hpp"

#include <algorithm>
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

namespace {

// Index cells for `capacity` entries: a power of two, at least twice as
// many, so that at most half the cells are in use and runs stay short.
uint32_t index_cells_for(uint32_t capacity) noexcept
{
    uint64_t cells = 2;
    while (cells < 2 * static_cast<uint64_t>(capacity))
        cells *= 2;
    return static_cast<uint32_t>(cells);
}

// An index cell: the key's hash in the high half (compared before the key
// itself), the entry number + 1 in the low half; 0 is an empty cell.
uint64_t index_cell(uint32_t hash, uint32_t number) noexcept
{
    return static_cast<uint64_t>(hash) << 32 | (number + 1);
}

uint32_t cell_hash(uint64_t cell) noexcept
{
    return static_cast<uint32_t>(cell >> 32);
}

uint32_t cell_number(uint64_t cell) noexcept
{
    return static_cast<uint32_t>(cell) - 1;
}

} // namespace

std::size_t CounterTable::bytes_for(uint32_t capacity) noexcept
{
    return entries_offset + static_cast<std::size_t>(capacity) * sizeof(CounterEntry) +
           static_cast<std::size_t>(index_cells_for(capacity)) * sizeof(uint64_t);
}

CounterTable* CounterTable::format(void* block, uint32_t capacity) noexcept
{
    static_assert(sizeof(CounterEntry) % sizeof(uint64_t) == 0, "the index follows aligned");
    std::memset(block, 0, bytes_for(capacity));
    auto* table = static_cast<CounterTable*>(block);
    table->header_.capacity = capacity;
    table->header_.index_mask = index_cells_for(capacity) - 1;
    // Every entry free, the first one first.
    for (uint32_t number = capacity; number > 0; --number)
        table->free_entry(table->entry_at(number - 1));
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

uint64_t* CounterTable::index() noexcept
{
    return reinterpret_cast<uint64_t*>(entries() + header_.capacity);
}

uint32_t CounterTable::number_of(const CounterEntry* entry) noexcept
{
    return static_cast<uint32_t>(entry - entries());
}

CounterEntry* CounterTable::find(const CounterKey& key) noexcept
{
    const uint32_t hash = hash_counter_key(key);
    const uint32_t mask = header_.index_mask;
    // At most half the cells are in use: the walk ends at an empty one.
    for (uint32_t at = hash & mask;; at = (at + 1) & mask) {
        uint64_t cell = index()[at];
        if (cell == 0)
            return nullptr;
        if (cell_hash(cell) != hash)
            continue;
        CounterEntry* entry = &entries()[cell_number(cell)];
        if (same_counter_key(entry->key, key))
            return entry;
    }
}

void CounterTable::index_insert(uint32_t hash, uint32_t number) noexcept
{
    const uint32_t mask = header_.index_mask;
    uint32_t at = hash & mask;
    while (index()[at] != 0)
        at = (at + 1) & mask;
    index()[at] = index_cell(hash, number);
}

void CounterTable::index_remove(uint32_t hash, uint32_t number) noexcept
{
    const uint32_t mask = header_.index_mask;
    const uint64_t wanted = index_cell(hash, number);
    uint32_t hole = hash & mask;
    while (index()[hole] != wanted) {
        if (index()[hole] == 0)
            return; // not indexed (cannot happen: every placed entry is)
        hole = (hole + 1) & mask;
    }
    // Close the hole: a later cell of the run moves back into it unless its
    // home lies after the hole (cyclically, up to the cell itself), where a
    // lookup for it starts past the hole anyway.  Then its own cell is the
    // hole, until the run ends.
    for (uint32_t at = (hole + 1) & mask; index()[at] != 0; at = (at + 1) & mask) {
        uint32_t home = cell_hash(index()[at]) & mask;
        bool home_after_hole =
            hole <= at ? (hole < home && home <= at) : (hole < home || home <= at);
        if (home_after_hole)
            continue;
        index()[hole] = index()[at];
        hole = at;
    }
    index()[hole] = 0;
}

uint32_t CounterTable::longest_probe() noexcept
{
    const uint32_t mask = header_.index_mask;
    uint32_t longest = 0;
    for (uint32_t at = 0; at <= mask; ++at) {
        uint64_t cell = index()[at];
        if (cell == 0)
            continue;
        uint32_t cells = ((at - (cell_hash(cell) & mask)) & mask) + 1;
        if (cells > longest)
            longest = cells;
    }
    return longest;
}

void CounterTable::idle_append(CounterEntry* entry) noexcept
{
    uint32_t link = number_of(entry) + 1;
    entry->newer = 0;
    entry->older = header_.idle_newest;
    if (header_.idle_newest != 0)
        entries()[header_.idle_newest - 1].newer = link;
    else
        header_.idle_oldest = link;
    header_.idle_newest = link;
}

void CounterTable::idle_unlink(CounterEntry* entry) noexcept
{
    if (entry->older != 0)
        entries()[entry->older - 1].newer = entry->newer;
    else
        header_.idle_oldest = entry->newer;
    if (entry->newer != 0)
        entries()[entry->newer - 1].older = entry->older;
    else
        header_.idle_newest = entry->older;
    entry->newer = 0;
    entry->older = 0;
}

void CounterTable::free_entry(CounterEntry* entry) noexcept
{
    entry->state = CounterState::free;
    entry->pins = 0;
    entry->older = 0;
    entry->newer = header_.free_head;
    header_.free_head = number_of(entry) + 1;
}

CounterEntry* CounterTable::find_or_place(const CounterKey& key, bool* placed) noexcept
{
    *placed = false;
    if (CounterEntry* entry = find(key))
        return entry;
    if (header_.free_head == 0 && !evict_longest_idle())
        return nullptr;
    CounterEntry* slot = &entries()[header_.free_head - 1];
    header_.free_head = slot->newer;
    std::memset(slot, 0, sizeof *slot);
    slot->key = key;
    slot->hash = hash_counter_key(key);
    slot->state = CounterState::loading;
    slot->pins = 1; // the loader's
    slot->limit = Limit::of(0);
    index_insert(slot->hash, number_of(slot));
    ++header_.live;
    ++header_.placements;
    *placed = true;
    join_existing_group(slot);
    return slot;
}

void CounterTable::finish_load(CounterEntry* entry, int64_t committed) noexcept
{
    entry->committed = committed;
    entry->state = CounterState::ready;
    if (entry->pins == 0) // not the case in the extension: the loader keeps its pin
        idle_append(entry);
}

// The inverse of find_or_place's placing: out of the index, onto the free
// list.
void CounterTable::unplace(CounterEntry* entry) noexcept
{
    leave_group(entry);
    index_remove(entry->hash, number_of(entry));
    free_entry(entry);
    --header_.live;
}

void CounterTable::abandon_load(CounterEntry* entry) noexcept
{
    unplace(entry);
}

// An entry is on the idle list exactly while it is ready and unpinned.
void CounterTable::pin(CounterEntry* entry) noexcept
{
    if (entry->pins == 0 && entry->state == CounterState::ready)
        idle_unlink(entry);
    ++entry->pins;
}

void CounterTable::unpin(CounterEntry* entry) noexcept
{
    if (entry->pins == 0)
        return;
    if (--entry->pins == 0 && entry->state == CounterState::ready)
        idle_append(entry);
}

bool CounterTable::is_idle(const CounterEntry& entry) noexcept
{
    return entry.state == CounterState::ready && entry.reserved == 0 && entry.releasing == 0 &&
           entry.pins == 0 && entry.carried_in == 0;
}

bool CounterTable::remove_if_idle(CounterEntry* entry) noexcept
{
    if (!is_idle(*entry))
        return false;
    idle_unlink(entry);
    unplace(entry);
    return true;
}

uint32_t CounterTable::remove_database(uint32_t database, uint32_t first, uint32_t count) noexcept
{
    uint32_t left = 0;
    uint32_t end = first + std::min(count, header_.capacity - std::min(first, header_.capacity));
    for (uint32_t i = first; i < end; ++i) {
        CounterEntry* entry = entry_at(i);
        if (entry->state == CounterState::free || entry->key.database != database)
            continue;
        if (entry->key.period_start == group_period) {
            // Pinned by counters still named in it: it goes with the last.
            remove_if_idle(entry);
            continue;
        }
        uint32_t group = entry->group;
        if (!remove_if_idle(entry))
            ++left;
        else if (group != 0)
            remove_if_idle(&entries()[group - 1]);
    }
    return left;
}

// Frees the first idle entry from the list's old end; false if there is
// none.  Unpinned entries hold nothing in flight in the extension (a
// transaction settles before it unpins), so that is the oldest one; the walk
// only goes further for an entry something reserved on without pinning it.
bool CounterTable::evict_longest_idle() noexcept
{
    for (uint32_t link = header_.idle_oldest; link != 0; link = entries()[link - 1].newer)
        if (remove_if_idle(&entries()[link - 1]))
            return true;
    return false;
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
    // What moved entries' transactions in flight may commit here counts as
    // reserved here (counter_carry.cpp).
    wide held = static_cast<wide>(entry->committed) + entry->reserved + carried_elsewhere(*entry);
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
    add_reserved(entry, amount);
    return admission;
}

void CounterTable::add_reserved(CounterEntry* entry, int64_t amount) noexcept
{
    if (entry->moved_out == 0) {
        entry->reserved += amount;
        return;
    }
    int64_t old_share = carried_share(*entry);
    entry->reserved += amount;
    share_changed(entry, old_share);
}

int64_t CounterTable::release(CounterEntry* entry, int64_t amount, OwnChanges* own,
                              bool of_stored_rows) noexcept
{
    wide own_reserved = static_cast<wide>(own->reserved) - own->unconfirmed;
    wide spare = of_stored_rows ? static_cast<wide>(entry->committed) + entry->reserved -
                                      own->unconfirmed - entry->releasing
                                : static_cast<wide>(entry->committed) -
                                      (entry->drawn - own->drawn) + own_reserved - own->released;
    int64_t given = spare <= 0 ? 0 : (spare < amount ? static_cast<int64_t>(spare) : amount);
    entry->releasing += given;
    // What the caller has now given back beyond its own reservations.
    wide beyond = static_cast<wide>(own->released) + given - own_reserved;
    if (beyond > own->drawn) {
        entry->drawn = saturate(static_cast<wide>(entry->drawn) + (beyond - own->drawn));
        own->drawn = static_cast<int64_t>(beyond);
    }
    return given;
}

bool CounterTable::force(CounterEntry* entry, int64_t delta, int64_t* own_drawn) noexcept
{
    if (delta > 0) {
        // The same bound as reserve()'s.
        if (static_cast<wide>(entry->committed) + entry->reserved + carried_elsewhere(*entry) +
                delta >
            INT64_MAX)
            return false;
        add_reserved(entry, delta);
    } else {
        entry->releasing = saturate(static_cast<wide>(entry->releasing) - delta);
        entry->drawn = saturate(static_cast<wide>(entry->drawn) - delta);
        *own_drawn = saturate(static_cast<wide>(*own_drawn) - delta);
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
                          int64_t committing, bool passed, int64_t carry_excluded,
                          int64_t drawn) noexcept
{
    entry->drawn -= drawn < entry->drawn ? drawn : entry->drawn;
    if (passed)
        unpass(entry);
    entry->committing -= committing;
    int64_t old_share = carried_share(*entry);
    entry->reserved -= reserved;
    entry->carry_excluded -=
        carry_excluded < entry->carry_excluded ? carry_excluded : entry->carry_excluded;
    share_changed(entry, old_share);
    entry->releasing -= released;
    if (commit)
        entry->committed = saturate(static_cast<wide>(entry->committed) + reserved - released);
}

uint32_t CounterTable::begin_move(CounterEntry* entry, uint64_t mover) noexcept
{
    // 0 means "never moved": a wrap skips it.
    if (++entry->move_epoch == 0)
        entry->move_epoch = 1;
    entry->mover = mover;
    return entry->move_epoch;
}

bool CounterTable::pass(CounterEntry* entry, uint32_t seen_epoch) noexcept
{
    if (entry->move_epoch != seen_epoch)
        return false;
    ++entry->passing;
    return true;
}

void CounterTable::unpass(CounterEntry* entry) noexcept
{
    if (entry->passing > 0)
        --entry->passing;
}

} // namespace zechat::billing
