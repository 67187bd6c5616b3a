// Backend-local arrays grown by doubling, in a memory context of the
// caller's choosing.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// Makes room in `*items` (nullptr until the first item) for item number
// `count` (0-based): the first time for `initial` items, then twice as
// many.  Running out of memory raises with the array as it was.  `huge`:
// past palloc's 1 GB (arrays whose items a statement makes per row).
template <typename Item>
void make_room_for_item(Item** items, int count, int* capacity, int initial, MemoryContext context,
                        bool huge = false)
{
    if (count < *capacity)
        return;
    int grown = *capacity == 0 ? initial : *capacity * 2;
    Size bytes = sizeof(Item) * static_cast<Size>(grown);
    void* memory;
    if (*items == nullptr)
        memory = huge ? MemoryContextAllocHuge(context, bytes) : MemoryContextAlloc(context, bytes);
    else
        memory = huge ? repalloc_huge(*items, bytes) : repalloc(*items, bytes);
    *items = static_cast<Item*>(memory);
    *capacity = grown;
}

} // namespace zechat::billing::pg
