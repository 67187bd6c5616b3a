#include <cstring>

#include "key_hash.hpp"

#include "no_postgres.hpp"

namespace zechat::billing {

uint32_t hash_key_words(const void* key, std::size_t size) noexcept
{
    const auto* bytes = static_cast<const unsigned char*>(key);
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (std::size_t i = 0; i + sizeof(uint64_t) <= size; i += sizeof(uint64_t)) {
        uint64_t word;
        std::memcpy(&word, bytes + i, sizeof word);
        h = (h ^ word) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return static_cast<uint32_t>(h ^ (h >> 29));
}

} // namespace zechat::billing
