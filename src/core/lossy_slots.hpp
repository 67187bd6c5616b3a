// A table of hints on a plain block of memory: a fixed number of slots, each
// holding one key and its value, at the place the key's hash gives.  A key
// is looked for in its own slot only, and writing a key there replaces
// whatever other key the slot held.  So a lookup costs one comparison and
// nothing ever needs evicting, at the price of losing entries that collide:
// fit only for what can be found again another way (the PostgreSQL layer
// keeps there where a backend's usage rows are and what tenants' terms are,
// both checked or dated before use: shared_hints.hpp).
//
// Plain old data and noexcept, so the block can live in PostgreSQL shared
// memory.  It does no locking: the caller guards each slot (slot_of() says
// which) for the length of a read() or write().
#pragma once

#include <cstddef>
#include <cstdint>

namespace zechat::billing {

struct LossySlotsHeader {
    uint32_t slots;
    uint32_t key_size;   // bytes, a multiple of 8
    uint32_t value_size; // bytes, a multiple of 8
    uint32_t slot_size;  // occupied flag, key and value
};

class LossySlots {
public:
    // Keys and values are compared and copied as bytes: callers build them
    // zeroed, padding included.  Sizes must be multiples of 8 (hashing
    // reads words).
    static std::size_t bytes_for(uint32_t slots, uint32_t key_size, uint32_t value_size) noexcept;
    static LossySlots* format(void* block, uint32_t slots, uint32_t key_size,
                              uint32_t value_size) noexcept;
    static LossySlots* attach(void* block) noexcept;

    uint32_t slot_count() const noexcept { return header_.slots; }

    // The slot `key` lives in, if anywhere.
    uint32_t slot_of(const void* key) const noexcept;

    // Copies the value of `key` to *value if its slot holds that key.
    bool read(uint32_t slot, const void* key, void* value) const noexcept;

    // Puts `key` and its value in its slot, replacing what was there.
    void write(uint32_t slot, const void* key, const void* value) noexcept;

    // Empties the slot if it holds `key`.
    void erase(uint32_t slot, const void* key) noexcept;

private:
    LossySlots() = default;
    unsigned char* slot_at(uint32_t slot) noexcept;
    const unsigned char* slot_at(uint32_t slot) const noexcept;

    LossySlotsHeader header_;
};

} // namespace zechat::billing
