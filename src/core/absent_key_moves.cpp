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

// Does the entry stand for the key (itself, or its whole database)?
bool covers(const AbsentKeyMove& slot, const CounterKey& key) noexcept
{
    if (slot.whole_database != 0)
        return slot.key.database == key.database;
    return same_counter_key(slot.key, key);
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

AbsentMoveRecorded AbsentKeyMoves::record(const CounterKey& key, uint64_t mover,
                                          uint32_t owner) noexcept
{
    uint32_t seen = 0;
    for (uint32_t i = 0; i < header_.capacity && seen < header_.used; ++i) {
        const AbsentKeyMove& slot = slots()[i];
        if (!in_use(slot))
            continue;
        ++seen;
        if (slot.owner == owner && covers(slot, key))
            return AbsentMoveRecorded::recorded;
    }
    if (header_.used + database_reserve >= header_.capacity)
        return AbsentMoveRecorded::need_database;
    AbsentKeyMove* slot = take_slot(owner, mover);
    if (slot == nullptr) // not with used below capacity; kept for safety
        return AbsentMoveRecorded::need_database;
    slot->key = key;
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
    AbsentKeyMove* slot = take_slot(owner, mover);
    if (slot == nullptr) {
        // Full of other databases' entries: wait for one of them to end.
        // (Key entries leave database_reserve slots, so there is one.)
        *other = any_other != nullptr ? any_other->mover : 0;
        return AbsentMoveRecorded::wait_for_other;
    }
    slot->key.database = database;
    slot->whole_database = 1;
    return AbsentMoveRecorded::recorded;
}

uint64_t AbsentKeyMoves::mover_for(const CounterKey& key) const noexcept
{
    uint64_t mover = 0;
    uint64_t latest = 0;
    uint32_t seen = 0;
    for (uint32_t i = 0; i < header_.capacity && seen < header_.used; ++i) {
        const AbsentKeyMove& slot = slots()[i];
        if (!in_use(slot))
            continue;
        ++seen;
        if (covers(slot, key) && slot.sequence > latest) {
            latest = slot.sequence;
            mover = slot.mover;
        }
    }
    return mover;
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
