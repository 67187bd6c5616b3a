// Per-backend hash tables with fixed-size binary keys (dynahash), the kind
// every cache of this library uses.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "utils/hsearch.h"
}

namespace zechat::billing::pg {

// A table in `context` whose keys are compared as bytes (build them zeroed,
// padding included).  Keys whose size is a multiple of 8 bytes are hashed a
// word at a time (core/key_hash.hpp).
HTAB* create_backend_hash(const char* name, long initial_size, Size key_size, Size entry_size,
                          MemoryContext context);

// Brings a full cache down to `keep` entries instead of starting it over,
// so that a backend meeting a few more keys than its cache holds still
// finds most of them there.  The entries go in the table's order, which is
// the order of their hashes: the same keys go each time and the others
// stay, where a sweep over more keys than fit would find none of them if
// the least recently used went first (and a key met all the time costs one
// read per eviction at most).  `before_removal`, if given, sees each entry
// before it goes.  Pointers to entries are invalid after it.
void evict_entries(HTAB* table, long keep, void (*before_removal)(void* entry) = nullptr);

} // namespace zechat::billing::pg
