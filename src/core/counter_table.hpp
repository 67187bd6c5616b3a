// The counter table of the shared-memory mode (DESIGN.md), as a data
// structure on a plain block of memory: a fixed-capacity open-addressing
// hash of (database, tenant, resource, period) counters, each with the
// usage committed and the usage reserved by transactions in flight.
//
// Everything here is plain old data and noexcept, so the block can live in
// PostgreSQL shared memory.  It does no locking: the PostgreSQL layer
// serialises access (and says how in its own header); the rules that make
// it exact are here, where they can be tested without a server:
//   * reserve(): committed + reserved + amount <= limit, or refuse;
//   * commit_reservation() / cancel_reservation() move or drop a
//     reservation; neither can fail;
//   * an entry is evicted only when idle: ready, nothing reserved and no
//     backend pinning it (a reservation or a load in progress), so eviction
//     can never forget usage that is not yet durable.
// Entries never move once placed (backends keep pointers to them), so a
// removed entry leaves a tombstone that lookups step over.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quota_rules.hpp"

namespace zechat::billing {

struct CounterKey {
    uint32_t database;
    char tenant_id[64];   // NUL-padded
    char resource[48];    // NUL-padded
    int64_t period_start; // microseconds, as PostgreSQL's timestamptz
};

// Builds a key; tenant and resource are copied and NUL-padded (they must be
// shorter than their fields, which key validation guarantees).
CounterKey make_counter_key(uint32_t database, const char* tenant_id, std::size_t tenant_length,
                            const char* resource, std::size_t resource_length,
                            int64_t period_start) noexcept;

enum class CounterState : uint32_t {
    empty = 0,     // never used: ends a probe sequence
    tombstone = 1, // evicted: lookups continue past it
    loading = 2,   // claimed; its committed usage is being read
    ready = 3,
};

struct CounterEntry {
    CounterKey key;
    CounterState state;
    uint32_t pins;     // backends holding a reservation or loading it
    int64_t committed; // durable usage
    int64_t reserved;  // admitted by transactions not yet committed
    Limit limit;       // cached terms, valid for terms_generation
    uint64_t terms_generation;
    uint64_t last_used; // table clock at the last admission: eviction order
};

struct CounterTableHeader {
    uint32_t capacity;
    uint32_t live; // loading + ready entries
    uint64_t clock;
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

    // Finds the key, or places it in a free slot (evicting the least
    // recently used idle entry if there is none) in state `loading`.
    // *placed tells which.  nullptr when every entry is busy: the caller
    // refuses clearly rather than overshooting.
    CounterEntry* find_or_place(const CounterKey& key, bool* placed) noexcept;

    // A loading entry's durable usage has been read: it becomes ready.
    void finish_load(CounterEntry* entry, int64_t committed) noexcept;

    // Removes an entry that is idle; false (nothing done) if it is not.
    bool remove_if_idle(CounterEntry* entry) noexcept;

    // committed + reserved + amount <= limit ? reserve : refuse.
    Admission reserve(CounterEntry* entry, int64_t amount) noexcept;

    // The reserving transaction committed / aborted.
    void commit_reservation(CounterEntry* entry, int64_t amount) noexcept;
    void cancel_reservation(CounterEntry* entry, int64_t amount) noexcept;

    static bool is_idle(const CounterEntry& entry) noexcept;

    CounterEntry* entry_at(uint32_t index) noexcept { return &entries()[index]; }

private:
    CounterEntry* entries() noexcept;
    uint32_t home_of(const CounterKey& key) const noexcept;
    CounterEntry* evict_least_recently_used() noexcept;

    CounterTableHeader header_;
};

// Stable 32-bit hash of a key (FNV-1a over its bytes).
uint32_t hash_counter_key(const CounterKey& key) noexcept;

bool same_counter_key(const CounterKey& a, const CounterKey& b) noexcept;

} // namespace zechat::billing
