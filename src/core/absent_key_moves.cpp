#include "absent_key_moves.hpp"

#include <cstring>

#include "no_postgres.hpp"

namespace zechat::billing {

namespace {

constexpr std::size_t slots_offset = 64;
static_assert(sizeof(AbsentKeyMovesHeader) <= slots_offset, "header must fit before the slots");

bool in_use(const AbsentKeyMove& slot) noexcept
{
    return slot.mover != 0;
}

bool is_for_key(const AbsentKeyMove& slot, const CounterKey& key, uint32_t hash) noexcept
{
    return slot.whole_database == 0 && slot.hash == hash && same_counter_key(slot.key, key);
}

bool is_for_database(const AbsentKeyMove& slot, uint32_t database) noexcept
{
    return slot.whole_database != 0 && slot.key.database == database;
}

} // namespace

std::size_t AbsentKeyMoves::bytes_for(uint32_t capacity) noexcept
{
    return slots_offset + static_cast<std::size_t>(capacity) * sizeof(AbsentKeyMove);
}

AbsentKeyMoves* AbsentKeyMoves::format(void* block, uint32_t capacity) noexcept
{
    std::memset(block, 0, bytes_for(capacity));
    auto* moves = static_cast<AbsentKeyMoves*>(block);
    moves->header_.capacity = capacity;
    return moves;
}

AbsentKeyMoves* AbsentKeyMoves::attach(void* block) noexcept
{
    return static_cast<AbsentKeyMoves*>(block);
}

AbsentKeyMove* AbsentKeyMoves::slots() noexcept
{
    return reinterpret_cast<AbsentKeyMove*>(reinterpret_cast<char*>(this) + slots_offset);
}

const AbsentKeyMove* AbsentKeyMoves::slots() const noexcept
{
    return reinterpret_cast<const AbsentKeyMove*>(reinterpret_cast<const char*>(this) +
                                                  slots_offset);
}

AbsentKeyMove* AbsentKeyMoves::take_slot(uint32_t owner, uint64_t mover) noexcept
{
    for (uint32_t i = 0; i < header_.capacity; ++i) {
        AbsentKeyMove& slot = slots()[i];
        if (in_use(slot))
            continue;
        std::memset(&slot, 0, sizeof slot);
        slot.mover = mover;
        slot.owner = owner;
        slot.sequence = ++header_.last_sequence;
        ++header_.used;
        return &slot;
    }
    return nullptr;
}

AbsentMoveRecorded AbsentKeyMoves::record(const CounterKey& key, uint64_t mover, uint32_t owner,
                                          uint64_t* other) noexcept
{
    uint32_t hash = hash_counter_key(key);
    bool own_key = false;
    bool own_database = false;
    uint64_t others_key_mover = 0;
    visit_in_use([&](const AbsentKeyMove& slot) {
        if (is_for_key(slot, key, hash)) {
            if (slot.owner == owner)
                own_key = true;
            else
                others_key_mover = slot.mover;
        } else if (slot.owner == owner && is_for_database(slot, key.database)) {
            own_database = true;
        }
    });
    if (own_key)
        return AbsentMoveRecorded::recorded;
    if (own_database) {
        if (others_key_mover == 0)
            return AbsentMoveRecorded::recorded;
        *other = others_key_mover;
        return AbsentMoveRecorded::wait_for_other;
    }
    if (header_.used + database_reserve >= header_.capacity)
        return AbsentMoveRecorded::need_database;
    AbsentKeyMove* slot = take_slot(owner, mover);
    if (slot == nullptr) // not with used below capacity; kept for safety
        return AbsentMoveRecorded::need_database;
    slot->key = key;
    slot->hash = hash;
    return AbsentMoveRecorded::recorded;
}

AbsentMoveRecorded AbsentKeyMoves::record_database(uint32_t database, uint64_t mover,
                                                   uint32_t owner, uint64_t* other) noexcept
{
    const AbsentKeyMove* any_other = nullptr;
    for (uint32_t i = 0; i < header_.capacity; ++i) {
        const AbsentKeyMove& slot = slots()[i];
        if (!in_use(slot) || slot.whole_database == 0)
            continue;
        if (slot.key.database == database) {
            if (slot.owner == owner)
                return AbsentMoveRecorded::recorded;
            *other = slot.mover;
            return AbsentMoveRecorded::wait_for_other;
        }
        if (slot.owner != owner)
            any_other = &slot;
    }
    drop_own_keys_of(database, owner);
    AbsentKeyMove* slot = take_slot(owner, mover);
    if (slot == nullptr) {
        // Full of other databases' entries: wait for one of them to end
        // (entries for single keys leave database_reserve slots free).
        *other = any_other != nullptr ? any_other->mover : 0;
        return AbsentMoveRecorded::wait_for_other;
    }
    slot->key.database = database;
    slot->whole_database = 1;
    return AbsentMoveRecorded::recorded;
}

// Before its whole-database entry: the backend's entries for single keys of
// the database make room, as the new entry covers them -- except where
// another backend also has an entry for the key, which mover_for() would
// prefer to the whole-database one.
void AbsentKeyMoves::drop_own_keys_of(uint32_t database, uint32_t owner) noexcept
{
    bool others = false;
    for (uint32_t i = 0; i < header_.capacity && !others; ++i) {
        const AbsentKeyMove& slot = slots()[i];
        others = in_use(slot) && slot.owner != owner && slot.whole_database == 0 &&
                 slot.key.database == database;
    }
    for (uint32_t i = 0; i < header_.capacity && header_.used > 0; ++i) {
        AbsentKeyMove& slot = slots()[i];
        if (!in_use(slot) || slot.owner != owner || slot.whole_database != 0 ||
            slot.key.database != database)
            continue;
        bool shared_key = false;
        for (uint32_t j = 0; others && j < header_.capacity && !shared_key; ++j) {
            const AbsentKeyMove& another = slots()[j];
            shared_key = in_use(another) && another.owner != owner &&
                         is_for_key(another, slot.key, slot.hash);
        }
        if (!shared_key) {
            slot.mover = 0;
            --header_.used;
        }
    }
}

uint64_t AbsentKeyMoves::mover_for(const CounterKey& key) const noexcept
{
    uint32_t hash = hash_counter_key(key);
    uint64_t key_mover = 0;
    uint64_t key_latest = 0;
    uint64_t database_mover = 0;
    visit_in_use([&](const AbsentKeyMove& slot) {
        if (is_for_key(slot, key, hash)) {
            if (slot.sequence > key_latest) {
                key_latest = slot.sequence;
                key_mover = slot.mover;
            }
        } else if (is_for_database(slot, key.database)) {
            database_mover = slot.mover; // one per database at a time
        }
    });
    return key_mover != 0 ? key_mover : database_mover;
}

void AbsentKeyMoves::forget_owner(uint32_t owner) noexcept
{
    for (uint32_t i = 0; i < header_.capacity && header_.used > 0; ++i) {
        AbsentKeyMove& slot = slots()[i];
        if (in_use(slot) && slot.owner == owner) {
            slot.mover = 0;
            --header_.used;
        }
    }
}

void AbsentKeyMoves::forget_mover(uint32_t owner, uint64_t mover) noexcept
{
    for (uint32_t i = 0; i < header_.capacity && header_.used > 0; ++i) {
        AbsentKeyMove& slot = slots()[i];
        if (in_use(slot) && slot.owner == owner && slot.mover == mover) {
            slot.mover = 0;
            --header_.used;
        }
    }
}

} // namespace zechat::billing
