#include <cstring>

#include "backend_hash.hpp"

#include "../core/key_hash.hpp"

namespace zechat::billing::pg {

namespace {

uint32 hash_words(const void* key, Size key_size)
{
    return hash_key_words(key, key_size);
}

} // namespace

HTAB* create_backend_hash(const char* name, long initial_size, Size key_size, Size entry_size,
                          MemoryContext context)
{
    HASHCTL ctl;
    std::memset(&ctl, 0, sizeof ctl);
    ctl.keysize = key_size;
    ctl.entrysize = entry_size;
    ctl.hcxt = context;
    int flags = HASH_ELEM | HASH_CONTEXT;
    // Keys of whole words (the tenant keys) hash a word at a time; others,
    // like an Oid, byte-wise.  Either way they compare as bytes.
    if (key_size % sizeof(uint64) == 0) {
        ctl.hash = hash_words;
        flags |= HASH_FUNCTION;
    } else {
        flags |= HASH_BLOBS;
    }
    return hash_create(name, initial_size, &ctl, flags);
}

} // namespace zechat::billing::pg
