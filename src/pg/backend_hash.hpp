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

} // namespace zechat::billing::pg
