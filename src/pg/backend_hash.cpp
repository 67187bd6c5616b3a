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

void evict_entries(HTAB* table, long keep, void (*before_removal)(void* entry))
{
    long entries = hash_get_num_entries(table);
    if (entries <= keep)
        return;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, table);
    // Removing the entry a scan just returned is allowed (dynahash.c).
    while (void* entry = hash_seq_search(&scan)) {
        if (before_removal != nullptr)
            before_removal(entry);
        (void)hash_search(table, entry, HASH_REMOVE, nullptr);
        if (--entries <= keep) {
            hash_seq_term(&scan);
            return;
        }
    }
}

} // namespace zechat::billing::pg
