// The orders in which what statements leave to their end is sorted, each
// defined once for the files that sort in it.  qsort is not stable: each
// order is total (ties end at the index), or over keys that are unique (a
// statement's tenants), so the result never depends on the algorithm.
// Templates over the sorted type, inline where they sort: no call across
// files per comparison.
#pragma once

#include <cstring>

#include "pg_headers.hpp"

extern "C" {
#include "storage/itemptr.h"
}

namespace zechat::billing::pg {

// For qsort_arg over indexes into `items`, an array of Item: the items of
// one row version together (by relation, when Item has one, then by item
// pointer), those of a version in their order in `items`, which is the
// order they were made in (skippable_updates.cpp, uncounted_rows.cpp).
template <typename Item, ItemPointerData Item::*row, Oid Item::*relid = nullptr>
int by_row_then_order(const void* a, const void* b, void* items)
{
    int i = *static_cast<const int*>(a);
    int j = *static_cast<const int*>(b);
    const Item& x = static_cast<const Item*>(items)[i];
    const Item& y = static_cast<const Item*>(items)[j];
    if constexpr (relid != nullptr) {
        if (x.*relid != y.*relid)
            return x.*relid < y.*relid ? -1 : 1;
    }
    int by_row =
        ItemPointerCompare(const_cast<ItemPointer>(&(x.*row)), const_cast<ItemPointer>(&(y.*row)));
    return by_row != 0 ? by_row : (i > j) - (i < j);
}

// Sorts order[0 .. count), indexes into `items`, by_row_then_order.
template <typename Item, ItemPointerData Item::*row, Oid Item::*relid = nullptr>
void sort_by_row_then_order(int* order, int count, const Item* items)
{
    qsort_arg(order, count, sizeof *order, by_row_then_order<Item, row, relid>,
              const_cast<Item*>(items));
}

// The tenant id of an element of an array being sorted: a tenant's entry,
// or a pointer to one.
template <typename Entry> const char* tenant_id_in(const Entry& entry)
{
    return entry.tenant_id;
}

template <typename Entry> const char* tenant_id_in(Entry* const& entry)
{
    return entry->tenant_id;
}

// For qsort over an array of Element: tenants in the order of their ids as
// text, byte by byte, the order in which a statement's usage is admitted
// and given back tenant by tenant (statement_inserts.hpp: the same order
// for every table, so that statements take their locks in one order).
template <typename Element> int by_tenant_id(const void* a, const void* b)
{
    return std::strcmp(tenant_id_in(*static_cast<const Element*>(a)),
                       tenant_id_in(*static_cast<const Element*>(b)));
}

} // namespace zechat::billing::pg
