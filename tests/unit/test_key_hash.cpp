// Word-wise hashing of the fixed-size keys of the backends' caches
// (src/core/key_hash): dynahash picks buckets by the low bits, so keys that
// differ in one byte anywhere must land apart.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "key_hash.hpp"
#include "tenant_key.hpp"

using namespace zechat::billing;

namespace {

// The shape of the terms cache's key: tenant and resource, NUL-padded.
struct TermsLikeKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

TermsLikeKey key_of(const std::string& tenant, const std::string& resource = "messages")
{
    TermsLikeKey key;
    std::memset(&key, 0, sizeof key);
    std::memcpy(key.tenant_id, tenant.data(), tenant.size());
    std::memcpy(key.resource, resource.data(), resource.size());
    return key;
}

} // namespace

TEST(KeyHash, EqualKeysHashEqual)
{
    TermsLikeKey a = key_of("acme");
    TermsLikeKey b = key_of("acme");
    EXPECT_EQ(hash_key_words(&a, sizeof a), hash_key_words(&b, sizeof b));
}

TEST(KeyHash, EveryWordOfTheKeyCounts)
{
    TermsLikeKey a = key_of("acme", "messages");
    TermsLikeKey b = key_of("acme", "storage");
    TermsLikeKey c = key_of("acmf", "messages");
    EXPECT_NE(hash_key_words(&a, sizeof a), hash_key_words(&b, sizeof b));
    EXPECT_NE(hash_key_words(&a, sizeof a), hash_key_words(&c, sizeof c));
}

TEST(KeyHash, SimilarTenantsSpreadOverLowBitBuckets)
{
    constexpr uint32_t buckets = 1024; // dynahash: hash & (buckets - 1)
    constexpr int keys = 16 * buckets;
    std::vector<int> load(buckets, 0);
    for (int i = 0; i < keys; ++i) {
        TermsLikeKey key = key_of("t" + std::to_string(i));
        ++load[hash_key_words(&key, sizeof key) & (buckets - 1)];
    }
    // A uniform hash gives 16 +- 4 here; allow twice that spread.
    EXPECT_LE(*std::max_element(load.begin(), load.end()), 16 + 24);
    EXPECT_GE(*std::min_element(load.begin(), load.end()), 1);
}
