// A backend-local index from tenant id to items (pointers the caller owns
// and keeps valid), for walks that want one tenant's items out of many: a
// change of a plan's billing interval asks for each subscriber's pending
// changes while its own transaction keeps adding more, and a walk of all of
// them per subscriber would make the change quadratic.
//
// Items are added in the caller's order and found in it.  The memory lives
// in a context of its own under TopMemoryContext until the next reset.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// Forgets every item and frees the memory.
void reset_items_by_tenant();

// Adds `item` to tenant_id's items (tenant_id shorter than 64 bytes).  An
// error (out of memory) leaves the item out and the index as it was.
void add_item_of_tenant(const char* tenant_id, void* item);

// tenant_id's items, in the order they were added, and how many.
int items_of_tenant(const char* tenant_id, void* const** items);

} // namespace zechat::billing::pg
