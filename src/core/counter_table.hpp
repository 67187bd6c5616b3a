// The counter table of the shared-memory mode (DESIGN.md), as a data
// structure on a plain block of memory: a fixed number of entries, each a
// (database, tenant, resource, period) counter with the usage committed and
// the usage reserved by transactions in flight, and a hash index over them.
//
// Everything here is plain old data and noexcept, so the block can live in
// PostgreSQL shared memory.  It does no locking: the PostgreSQL layer
// serialises access (and says how in its own header); the rules that make
// it exact are here, where they can be tested without a server.
//
// Each entry holds the committed usage and two sums over the transactions in
// flight: `reserved` (consumption admitted to them) and `releasing` (gauge
// usage they give back).  Both take effect on `committed` only when the
// transaction commits (settle()), so an abort just drops them:
//   * reserve(): committed + reserved + carried elsewhere - own_released +
//     amount <= limit, or refuse.  Another transaction's release does not make room before it
//     commits; the caller's own does (a row deleted and one inserted in the
//     same transaction);
//   * release(): gives back at most what the entry can spare, so committed
//     usage never goes below 0 whatever commits or aborts;
//   * settle() moves or drops a transaction's part; it cannot fail;
//   * an entry is evicted only when idle: ready, nothing in flight and no
//     transaction pinning it, so eviction never forgets usage that is not
//     yet durable;
//   * a move of the entry's usage to another billing period (the tenant's
//     schedule changed) is a barrier: begin_move() marks the entry, and a
//     transaction about to commit a change on it must pass() first, which
//     fails once a move began since it last looked, so it checks its period
//     again; the mover waits for those that passed before it to settle;
//   * what is still reserved on a moved entry lands in the new period when
//     its transactions commit, so it counts there from the move on
//     (carry_in_flight(), counter_carry.cpp): a consumer admitted in the new
//     period never finds room that those transactions will take.
//
// Some entries are not counters: the group of a tenant and resource whose
// usage moved (carry_in_flight()) has an entry of its own, under the key's
// period group_period, which is no timestamp PostgreSQL stores.
//
// Entries never move once placed (backends keep pointers to them while they
// pin them).  Keys are found through a separate index of entry numbers, an
// open-addressing hash with at least twice as many cells as entries; a
// removed entry's cell is filled by moving later cells of its run back
// (no tombstones), so lookups stay a few cells long however many keys come
// and go over the server's life.  A full table takes the slot of the idle
// entry that has been idle longest, from a list kept in that order, without
// scanning the entries.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quota_rules.hpp"
#include "tenant_key.hpp"

namespace zechat::billing {

struct CounterKey {
    uint32_t database;
    uint32_t store; // the usage table's oid: a reinstalled extension starts afresh
    char tenant_id[tenant_id_field_bytes]; // NUL-padded
    char resource[resource_field_bytes];   // NUL-padded
    int64_t period_start;                  // microseconds, as PostgreSQL's timestamptz
};

// Builds a key; tenant and resource are copied and NUL-padded (they must be
// shorter than their fields, which key validation guarantees).
CounterKey make_counter_key(uint32_t database, uint32_t store, const char* tenant_id,
                            std::size_t tenant_length, const char* resource,
                            std::size_t resource_length, int64_t period_start) noexcept;

enum class CounterState : uint32_t {
    free = 0,    // holds no key
    loading = 1, // claimed; its committed usage is being read
    ready = 2,
};

struct CounterEntry {
    CounterKey key;
    CounterState state;
    uint32_t pins;     // transactions using the entry, or its loader
    int64_t committed; // durable usage
    int64_t reserved;  // consumption admitted to transactions in flight
    int64_t releasing; // usage given back by transactions in flight
    // Of that, what they gave back beyond what they reserved themselves:
    // drawn on committed usage (release()).
    int64_t drawn;
    int64_t committing;  // net change of transactions past begin_commit(), not yet settled
    uint64_t mover;      // the transaction (full xid) that began the last move
    uint32_t move_epoch; // moves of its usage begun since it was loaded (0: none)
    uint32_t passing;    // transactions past pass(), not yet settled
    // Carries (counter_carry.cpp): `moved_out` once a move took the entry's
    // usage to another period (what its transactions in flight commit goes
    // there), until a move carries usage back to it; `group` the group entry
    // of its tenant and resource (number + 1; 0: none), whose `carried_in`
    // is what the moved entries of the group have reserved, less
    // `carry_excluded`: the reservation of the mover itself, which its move
    // took along already.  A group entry is pinned once by each entry
    // naming it.
    int64_t carried_in;
    int64_t carry_excluded;
    // The mover whose record of the key's move (absent_key_moves.hpp) marked
    // the entry moved out as it was placed (mark_moved_out), until a move of
    // its own carries it or usage back to it; 0: none.  That mover's
    // rollback takes the mark back (unmark_noted).
    uint64_t noted_by;
    uint32_t group;
    uint32_t moved_out;
    Limit limit;   // the limit of the last admission (for DBAs to see)
    uint32_t hash; // hash_counter_key(key): where the index looks for it
    // Links, as entry numbers + 1 (0: none): of the idle list while the
    // entry is ready and unpinned, of the free list (next only) while free.
    uint32_t newer;
    uint32_t older;
};

struct CounterTableHeader {
    uint32_t capacity;
    uint32_t live;        // loading + ready entries
    uint32_t index_mask;  // index cells - 1: a power of two, at least 2 * capacity
    uint32_t free_head;   // free entries (entry number + 1; 0: none)
    uint32_t idle_oldest; // the idle list, from the entry idle longest...
    uint32_t idle_newest; // ...to the one that became idle last
    uint32_t groups;      // group entries placed (counter_carry.cpp)
    uint64_t placements;  // keys placed since the table was laid out
};

// The period of group entries (counter_carry.cpp): just above PostgreSQL's
// -infinity, which gauges use, and below any timestamp it accepts.
constexpr int64_t group_period = INT64_MIN + 1;

// What carry_in_flight() changed, for undo_carry().
struct CarryUndo {
    uint32_t moved_out;
    int64_t carry_excluded;
    uint64_t noted_by;
};

class CounterTable {
public:
    static std::size_t bytes_for(uint32_t capacity) noexcept;

    // Lays out an empty table of `capacity` entries in `block`, which must
    // have bytes_for(capacity) bytes, suitably aligned for 8-byte integers.
    static CounterTable* format(void* block, uint32_t capacity) noexcept;

    // The table already laid out in `block`.
    static CounterTable* attach(void* block) noexcept;

    uint32_t capacity() const noexcept { return header_.capacity; }
    uint32_t live() const noexcept { return header_.live; }

    CounterEntry* find(const CounterKey& key) noexcept;

    // Finds the key, or places it in a free slot (evicting the entry idle
    // longest if there is none) in state `loading`, pinned once for its
    // loader.  *placed tells which.  nullptr when every entry is
    // busy: the caller refuses clearly rather than overshooting.
    CounterEntry* find_or_place(const CounterKey& key, bool* placed) noexcept;

    // A loading entry's durable usage has been read: it becomes ready.  The
    // loader's pin stays (its transaction goes on using the entry).
    void finish_load(CounterEntry* entry, int64_t committed) noexcept;

    // The load failed: the slot is freed for a later attempt.
    void abandon_load(CounterEntry* entry) noexcept;

    // A transaction starts / stops using a ready entry.
    void pin(CounterEntry* entry) noexcept;
    void unpin(CounterEntry* entry) noexcept;

    // Removes an entry that is idle; false (nothing done) if it is not.
    bool remove_if_idle(CounterEntry* entry) noexcept;

    // Removes the idle entries of `database` (a dropped one, whose entries
    // are all idle) among entries [first, first + count), and the group
    // entry of each counter removed once no counter names it; returns how
    // many of its counters in that range are left.  A range at a time, so
    // that the caller can let others at the table in between.
    uint32_t remove_database(uint32_t database, uint32_t first, uint32_t count) noexcept;

    // Keys placed since the table was laid out.  A key leaves its entry only
    // when evicted or removed and comes back only by being placed again, so
    // while this number stays the same every key keeps its entry: a reader
    // going through the entries in several holds of the lock saw each key
    // that was there all along exactly once.
    uint64_t placements() const noexcept { return header_.placements; }

    // committed + reserved + carried_elsewhere() - own_released + amount <=
    // limit ? reserve : refuse.  own_released is what the calling
    // transaction has itself released on the entry.  new_used is the usage
    // compared (plus amount if admitted).  overflow when those sums + amount
    // would pass INT64_MAX, whatever was released, so that the sums in
    // flight always fit.
    Admission reserve(CounterEntry* entry, int64_t amount, Limit limit,
                      int64_t own_released) noexcept;

    // Gives back up to `amount`; returns how much (>= 0), so that no mix of
    // commits and aborts takes committed usage below 0: a transaction gives
    // back first what it reserved itself, and beyond that draws on committed
    // usage, of which every transaction in flight together draws at most all
    // (`drawn`).  `own` is what the calling transaction has reserved,
    // released and drawn on the entry; its `drawn` is kept here, and goes
    // back with settle() (a savepoint rolled back gives back what it drew
    // with what it reserved and released: what is left was covered when
    // the savepoint began).  A release its own reservation covers is not
    // drawn: otherwise two transactions that each consume and give back on a
    // key with little committed usage would give back nothing for the
    // second, whose consumption would then stay counted for good.
    //
    // With `of_stored_rows` the usage given back is that of rows the caller
    // has just deleted or shrunk: rows that exist were paid for by
    // transactions that committed, but one of those may not have settled
    // yet (it is visible before its counter is told), so every reservation
    // in flight counts, not only the caller's: at most committed + reserved
    // - releasing.  Otherwise a delete racing with the settling of the
    // insert it deletes would give back too little.
    //
    // Of what the caller reserved, `unconfirmed` may still be taken back
    // (rows its INSERT counted that ON CONFLICT may skip; the take-back
    // settles it as aborted): nothing given back counts on it, in either
    // case, or else committed usage would go below 0 once it was taken back.
    struct OwnChanges {
        int64_t reserved;
        int64_t released;
        int64_t drawn;
        int64_t unconfirmed;
    };
    int64_t release(CounterEntry* entry, int64_t amount, OwnChanges* own,
                    bool of_stored_rows = false) noexcept;

    // A correction that is not checked against the limit (recount): > 0 is
    // reserved, < 0 released, like any other change in flight (and drawn
    // on committed usage, all of it, into *own_drawn).  False, nothing
    // done, when committed + reserved would pass INT64_MAX.
    [[nodiscard]] bool force(CounterEntry* entry, int64_t delta, int64_t* own_drawn) noexcept;

    // A transaction whose net change on the entry is `net` (> 0) is about to
    // commit: it is placed after every transaction that got this far before
    // it.  Returns the usage it starts from (committed plus those others'
    // changes), so that, called under one lock, consecutive transactions get
    // consecutive, non-overlapping ranges [before, before + net): each usage
    // alert threshold is crossed by exactly one of them.  settle() with the
    // same `net` as `committing` ends it.
    int64_t begin_commit(CounterEntry* entry, int64_t net) noexcept;

    // A (sub)transaction that reserved `reserved` and released `released` on
    // the entry ends: committed, they move to `committed`; aborted, they are
    // dropped.  `committing` is what it registered with begin_commit() (0 if
    // it did not); `passed`, whether it passed() and is counted in passing;
    // `carry_excluded`, what it excluded as the mover of a carry from the
    // entry (carry_in_flight()); `drawn`, what it drew (release()).
    void settle(CounterEntry* entry, int64_t reserved, int64_t released, bool commit,
                int64_t committing = 0, bool passed = false, int64_t carry_excluded = 0,
                int64_t drawn = 0) noexcept;

    // Transaction `mover` is about to move the entry's committed usage to
    // another billing period.  Every transaction with a change in flight on
    // the entry must then check, before it commits, which period its change
    // belongs to (pass() fails for it).  Returns the new move_epoch.
    uint32_t begin_move(CounterEntry* entry, uint64_t mover) noexcept;

    // A transaction is about to make its change on the entry durable: it
    // passes, and is counted in `passing` until it settles, unless a move
    // began since `seen_epoch` (the entry's move_epoch when it last checked
    // its period; 0 if it never had to).  False, nothing done, otherwise.
    bool pass(CounterEntry* entry, uint32_t seen_epoch) noexcept;

    // Takes back a pass() of a transaction that will check again first.
    void unpass(CounterEntry* entry) noexcept;

    // The mover has moved `from`'s usage (`from` pinned by it) to the
    // period of `to_key`: `from` is moved out, and what transactions in
    // flight reserve on it, now or later, counts in every admission on the
    // other entries of its tenant and resource (`to`'s, if it has one now or
    // gets one later) until they settle, less the mover's own reservation
    // `own_reserved`, which its move took along.  `to_key` may be `from`'s
    // own: a change whose new schedule starts its period where the old one
    // did and ends it sooner keeps the usage there, and what is in flight
    // may land in the period after it.  *undo receives what undo_carry()
    // restores.  False, nothing done, when no entry is left for the group.
    [[nodiscard]] bool carry_in_flight(CounterEntry* from, const CounterKey& to_key,
                                       int64_t own_reserved, CarryUndo* undo) noexcept;

    // A counter just placed for a key that `mover`, in progress, recorded as
    // moved while it had no counter (or whose database a move of many keys
    // recorded): moved out, as if the move had found it
    // (carry_in_flight()), so that what is reserved on it counts in the
    // tenant's other periods, and noted as marked by `mover`.  Nothing done
    // when no entry is left for the group.
    void mark_moved_out(CounterEntry* entry, uint64_t mover) noexcept;

    // `mover` rolled back: an entry its record marked (mark_moved_out), and
    // that no move has carried since, is not moved out any more.  Until
    // 2026-12-07 the mark stayed, and a period no change had left counted
    // its transactions in flight in the tenant's later periods, where a
    // consumption fitting in lock mode was refused, and a later change
    // closing that period took them for carried ones (a helper's attack).
    void unmark_noted(CounterEntry* entry, uint64_t mover) noexcept;

    // Among entries [first, first + count) of the table, each of `database`
    // that a record marked (noted_by) loses the mark where
    // unmark(entry) says so (the end of a mover that recorded a whole
    // database, which marked counters of keys it did not move too).
    template <typename Unmark>
    void unmark_noted_in(uint32_t database, uint32_t first, uint32_t count, Unmark unmark) noexcept
    {
        for (uint32_t i = first; i < header_.capacity && i - first < count; ++i) {
            CounterEntry* entry = &entries()[i];
            if (entry->state != CounterState::free && entry->noted_by != 0 &&
                entry->key.database == database && unmark(*entry))
                unmark_noted(entry, entry->noted_by);
        }
    }

    // A move carried usage back to `to` (pinned by the mover), moved out by
    // an earlier one: its period counts again, and what is reserved on it
    // counts there, no longer in its tenant's other periods.  *undo
    // receives what undo_carry() restores.  Nothing done for an entry not
    // moved out.
    void return_carried(CounterEntry* to, CarryUndo* undo) noexcept;

    // The moves that carried `from` (or returned to it) rolled back: it is
    // as it was before the first of them.
    void undo_carry(CounterEntry* from, const CarryUndo& undo) noexcept;

    // What the moved entries of the entry's tenant and resource, other than
    // itself, hold reserved: admission counts it.
    int64_t carried_elsewhere(const CounterEntry& entry) noexcept;

    static bool is_idle(const CounterEntry& entry) noexcept;

    // What a moved entry counts for in its group: its reservations, less
    // the mover's own (0 for an entry not moved).
    static int64_t carried_share(const CounterEntry& entry) noexcept;

    CounterEntry* entry_at(uint32_t index) noexcept { return &entries()[index]; }

    // The most index cells a lookup of a key the table holds visits (1 when
    // every key sits in its home cell): what keeps lookups short under the
    // table's lock.  Walks the whole index; for tests and diagnostics.
    uint32_t longest_probe() noexcept;

private:
    CounterEntry* entries() noexcept;
    uint64_t* index() noexcept;
    uint32_t number_of(const CounterEntry* entry) noexcept;
    void index_insert(uint32_t hash, uint32_t number) noexcept;
    void index_remove(uint32_t hash, uint32_t number) noexcept;
    void idle_append(CounterEntry* entry) noexcept;
    void idle_unlink(CounterEntry* entry) noexcept;
    void free_entry(CounterEntry* entry) noexcept;
    void add_reserved(CounterEntry* entry, int64_t amount) noexcept;
    void share_changed(CounterEntry* entry, int64_t old_share) noexcept;
    CounterEntry* join_group(CounterEntry* entry) noexcept;
    void join_existing_group(CounterEntry* entry) noexcept;
    void leave_group(CounterEntry* entry) noexcept;
    void unplace(CounterEntry* entry) noexcept;
    bool evict_longest_idle() noexcept;

    CounterTableHeader header_;
};

// Stable 32-bit hash of a key (multiplicative, over its 8-byte words).
uint32_t hash_counter_key(const CounterKey& key) noexcept;

bool same_counter_key(const CounterKey& a, const CounterKey& b) noexcept;

} // namespace zechat::billing
