// What the arguments of a billing trigger (billing.enforce_quota) name,
// resolved once per trigger: the resource, the column positions and types,
// and the other triggers of the table it works with.  Cached until the
// table's relcache entry is invalidated (ALTER TABLE, DROP, ...: module.cpp
// calls invalidate_trigger_layouts).
#pragma once

#include "../core/tenant_key.hpp"
#include "pg_headers.hpp"

extern "C" {
#include "commands/trigger.h"
#include "utils/hsearch.h"
}

namespace zechat::billing::pg {

struct TriggerLayout {
    Oid trigger_oid; // hash key
    Oid relid;
    AttrNumber tenant_attnum;
    Oid tenant_type;          // the column's type, or a domain's base type
    AttrNumber amount_attnum; // InvalidAttrNumber: each row counts 1
    Oid amount_type;
    char resource[resource_field_bytes];
    // The tgenabled of the AFTER INSERT trigger that confirms the rows this
    // one counts (insert_confirmation.hpp), '\0' when the table has none;
    // when it has one, the table its rows are paired by
    // (confirmation_table_of), looked up once.
    char confirmation_enabled;
    Oid confirmation_table;
    // zzz_billing_<resource>_moved: marks rows an UPDATE moves to another
    // partition (partition_moves.hpp).
    bool marks_moves;
    // The UPDATE trigger: another BEFORE UPDATE trigger fires after it, and
    // may skip the update (skippable_updates.hpp).
    bool update_skippable;
    // BEFORE UPDATE triggers on a partition: the table enforce_quota put the
    // trigger on (trigger_origin_table), which a moving row may leave.
    Oid enforced_table;
};

// The layouts, keyed by trigger oid, in CacheMemoryContext; nullptr until
// the first trigger fires.  Only trigger_layout.cpp adds and removes entries.
extern HTAB* trigger_layouts;

// The layout of a trigger not in the cache: resolved, then cached.
TriggerLayout cache_trigger_layout(TriggerData* data);

// The layout of the trigger firing.  The lookup stays inline: every row a
// billing trigger fires for comes here, and finds its trigger cached.
inline TriggerLayout layout_for(TriggerData* data)
{
    if (trigger_layouts != nullptr) {
        Oid trigger_oid = data->tg_trigger->tgoid;
        bool found;
        auto* entry = static_cast<TriggerLayout*>(
            hash_search(trigger_layouts, &trigger_oid, HASH_FIND, &found));
        if (entry != nullptr)
            return *entry;
    }
    return cache_trigger_layout(data);
}

// Refuses a billing trigger not set up as billing.enforce_quota sets it up.
[[noreturn]] void bad_trigger_setup(Relation rel, const char* message);

// Forgets the layouts of the triggers on `relid`; of every trigger when it
// is InvalidOid.
void invalidate_trigger_layouts(Oid relid);

} // namespace zechat::billing::pg
