// Consumption of tenants' in flight in periods from a given start on
// (late_schedule_changes.hpp), asked for many tenants at once: an edit of a
// plan's interval over thousands of subscribers whose periods ended before
// its COMMIT asks for all of them, and shared-memory mode's answer is a
// pass over the whole counter table.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

// A tenant, and the start from which its periods count as later ones.
struct LaterPeriods {
    const char* tenant_id;
    TimestampTz from;
};

// The index of one of `tenants` with consumption of a period resource in
// flight in a later period, held by another transaction, and that
// resource (palloc'd) into *resource; -1 when there is none.  Lock mode:
// the transaction writes the key's row (its first admission of the key
// wrote it).  Shared-memory mode: it pins the key's counter, or writes its
// row (just before its commit).  `tenants` is sorted by tenant id (strcmp)
// on return, and the index is into that order.
int later_usage_in_flight(LaterPeriods* tenants, int count, char** resource);

} // namespace zechat::billing::pg
