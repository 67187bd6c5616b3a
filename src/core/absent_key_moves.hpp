// Moves of keys that have no counter: the part of a billing schedule change
// the counter table (counter_table.hpp) cannot mark.
//
// A schedule change moves each key's usage from the period it was in to the
// period it is in now, and marks the key's counter so that a consumption in
// flight under the old terms checks its period again.  A key with no counter
// and no usage yet (typically a tenant's first consumption of the period has
// not happened) gives the mover nothing to mark.  The mover records it here
// instead, and until its transaction ends, a counter placed for that key
// starts marked by it, as if the move had found it.
//
// Plain old data and noexcept, on a block of memory the PostgreSQL layer
// puts in shared memory and guards with the counter table's lock (checking
// for the counter and recording its absence must be one step, so that a
// counter placed right after the check starts marked).
//
// A fixed number of slots.  When a transaction's moves would fill the last
// few, it records one entry for its whole database instead, which then
// marks every counter placed in that database until it ends: a plan edit
// over thousands of idle subscribers stays exact, at the price of making
// the first consumptions of keys placed meanwhile wait for it.  Only one
// such entry per database is allowed at a time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "counter_table.hpp"

namespace zechat::billing {

struct AbsentKeyMove {
    CounterKey key;          // for a whole-database entry, only key.database counts
    uint64_t mover;          // the moving (sub)transaction's full id; 0: slot free
    uint64_t sequence;       // order of recording: the latest entry of a key wins
    uint32_t owner;          // the backend that recorded it (removes it at its end)
    uint32_t whole_database; // 1: stands for every key of key.database
    uint32_t hash;           // hash_counter_key(key), compared first
    uint32_t padding;
};

struct AbsentKeyMovesHeader {
    uint32_t capacity;
    uint32_t used;
    uint64_t last_sequence;
};

// Whether a mover (a full transaction id, 64 bits with the epoch) may
// still run, or its end may not be seen yet, when `next` is the next full
// id to be assigned: within 2^31 ids of it.  No transaction runs across
// 2^31 transaction ids (wraparound protection stops assigning them first):
// an older mover has ended long ago, and its 32-bit id may now name another
// transaction.  A mover above `next` (not assigned yet) is outside.  Inline:
// admission asks it of a marked counter.
inline bool within_xid_horizon(uint64_t next, uint64_t mover) noexcept
{
    return next - mover < (uint64_t(1) << 31);
}

enum class AbsentMoveRecorded {
    recorded,      // or already covered by an entry of the same backend
    need_database, // the key slots are full: record the whole database
    wait_for_other // another backend's whole-database entry is in the way (see *other)
};

class AbsentKeyMoves {
public:
    // Slots kept for whole-database entries when the others are full.
    static constexpr uint32_t database_reserve = 8;

    static std::size_t bytes_for(uint32_t capacity) noexcept;
    static AbsentKeyMoves* format(void* block, uint32_t capacity) noexcept;
    static AbsentKeyMoves* attach(void* block) noexcept;

    uint32_t used() const noexcept { return header_.used; }

    // Records that `mover` (of backend `owner`) moves `key`'s usage while
    // the key has no counter.  An entry of the same backend for the key, or
    // for its whole database, already covers it (the earlier mover is this
    // transaction or an ancestor of the subtransaction: waiting for it
    // covers the later) -- but its whole-database entry does not hide
    // another backend's entry for the key, which mover_for() would prefer:
    // wait_for_other then, with that mover in *other (it has ended: movers
    // of a tenant take turns on its subscription's row lock, and the entry
    // goes a moment after its end).
    AbsentMoveRecorded record(const CounterKey& key, uint64_t mover, uint32_t owner,
                              uint64_t* other) noexcept;

    // Records `mover` for every key of `database`, and drops the backend's
    // entries for single keys of it (the caller makes `mover` its top-level
    // transaction, which covers them).  wait_for_other (and *other, the
    // mover to wait for) when another backend has such an entry for the
    // database, or no slot is left.
    AbsentMoveRecorded record_database(uint32_t database, uint64_t mover, uint32_t owner,
                                       uint64_t* other) noexcept;

    // The mover a counter placed for `key` now starts marked by, 0 if none:
    // that of the latest entry for the key, else of its database's entry.
    // An entry for the key is preferred: its mover holds the tenant's
    // subscription row, so a whole-database mover cannot be moving that
    // tenant until it is done (and then records the key afresh, or finds
    // its counter).
    uint64_t mover_for(const CounterKey& key) const noexcept;

    // Calls visit(entry) for each entry of backend `owner`, or only those
    // of `mover` when it is not 0: what forget_owner() or forget_mover()
    // is about to drop.
    template <typename Visit>
    void visit_own(uint32_t owner, uint64_t mover, Visit visit) const noexcept
    {
        visit_in_use([&](const AbsentKeyMove& slot) {
            if (slot.owner == owner && (mover == 0 || slot.mover == mover))
                visit(slot);
        });
    }

    // The backend's transaction ended: its entries go.
    void forget_owner(uint32_t owner) noexcept;

    // A subtransaction of the backend rolled back: its moves did not happen.
    void forget_mover(uint32_t owner, uint64_t mover) noexcept;

private:
    AbsentKeyMove* slots() noexcept;
    const AbsentKeyMove* slots() const noexcept;
    // Calls visit(slot) for every slot in use, stopping once all were seen.
    template <typename Visit> void visit_in_use(Visit visit) const noexcept
    {
        uint32_t seen = 0;
        for (uint32_t i = 0; i < header_.capacity && seen < header_.used; ++i) {
            const AbsentKeyMove& slot = slots()[i];
            if (slot.mover == 0)
                continue;
            ++seen;
            visit(slot);
        }
    }
    AbsentKeyMove* take_slot(uint32_t owner, uint64_t mover) noexcept;
    void drop_own_keys_of(uint32_t database, uint32_t owner) noexcept;

    AbsentKeyMovesHeader header_;
};

} // namespace zechat::billing
