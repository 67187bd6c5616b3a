#include <cstring>

#include "items_by_tenant.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "growing_array.hpp"

extern "C" {
#include "utils/hsearch.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

struct TenantItems {
    char tenant_id[tenant_id_field_bytes]; // hash key, zero-padded
    int count;
    int capacity;
    void** items;
};

MemoryContext index_context = nullptr;
HTAB* index = nullptr;

void tenant_key(const char* tenant_id, char (&key)[tenant_id_field_bytes])
{
    std::memset(key, 0, sizeof key);
    std::strncpy(key, tenant_id, sizeof key - 1);
}

} // namespace

void reset_items_by_tenant()
{
    if (index_context != nullptr)
        MemoryContextDelete(index_context);
    index_context = nullptr;
    index = nullptr;
}

void add_item_of_tenant(const char* tenant_id, void* item)
{
    if (index == nullptr) {
        if (index_context == nullptr)
            index_context = AllocSetContextCreate(
                TopMemoryContext, "zechat_billing items by tenant", ALLOCSET_DEFAULT_SIZES);
        index =
            create_backend_hash("zechat_billing items by tenant", 256,
                                sizeof(TenantItems::tenant_id), sizeof(TenantItems), index_context);
    }
    char key[tenant_id_field_bytes];
    tenant_key(tenant_id, key);
    bool found;
    auto* entry = static_cast<TenantItems*>(hash_search(index, key, HASH_ENTER, &found));
    if (!found) {
        entry->count = 0;
        entry->capacity = 0;
        entry->items = nullptr;
    }
    make_room_for_item(&entry->items, entry->count, &entry->capacity, 4, index_context);
    entry->items[entry->count++] = item;
}

int items_of_tenant(const char* tenant_id, void* const** items)
{
    *items = nullptr;
    // No item's tenant is that long; cut short, it could match one that is.
    if (index == nullptr || std::strlen(tenant_id) >= sizeof(TenantItems::tenant_id))
        return 0;
    char key[tenant_id_field_bytes];
    tenant_key(tenant_id, key);
    auto* entry = static_cast<TenantItems*>(hash_search(index, key, HASH_FIND, nullptr));
    if (entry == nullptr)
        return 0;
    *items = entry->items;
    return entry->count;
}

} // namespace zechat::billing::pg
