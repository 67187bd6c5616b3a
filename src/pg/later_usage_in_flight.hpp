// Consumption of a tenant's in flight in a period from a given start on
// (late_schedule_changes.hpp).
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

// The resource of a consumption of the tenant's, in a period starting at or
// after `from`, that another transaction holds in flight, palloc'd; nullptr
// when there is none.  Lock mode: the transaction writes the key's row (its
// first admission of the key wrote it).  Shared-memory mode: it pins the
// key's counter, or writes its row (just before its commit).
char* later_usage_in_flight(const char* tenant_id, TimestampTz from);

} // namespace zechat::billing::pg
