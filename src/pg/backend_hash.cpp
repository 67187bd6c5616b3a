#include <cstring>

#include "backend_hash.hpp"

namespace zechat::billing::pg {

HTAB* create_backend_hash(const char* name, long initial_size, Size key_size, Size entry_size,
                          MemoryContext context)
{
    HASHCTL ctl;
    std::memset(&ctl, 0, sizeof ctl);
    ctl.keysize = key_size;
    ctl.entrysize = entry_size;
    ctl.hcxt = context;
    return hash_create(name, initial_size, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

} // namespace zechat::billing::pg
