// Hashing of the fixed-size keys this library looks up on every
// consumption: the counter table's, and the backends' caches of terms,
// pending usage and usage-part locations.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zechat::billing {

// Hash of a key of `size` bytes, a multiple of 8, built zeroed (padding
// included) so that equal values are equal bytes.  Eight bytes at a time:
// several times cheaper than a byte-wise hash on 112-byte keys, and spread
// well enough for tables that index buckets by the low bits.
uint32_t hash_key_words(const void* key, std::size_t size) noexcept;

} // namespace zechat::billing
