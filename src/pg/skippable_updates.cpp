#include <cstring>

#include "skippable_updates.hpp"

#include "../core/tenant_key.hpp"

#include "admission.hpp"
#include "backend_hash.hpp"
#include "growing_array.hpp"
#include "row_replacement.hpp"
#include "sort_orders.hpp"
#include "statement_nesting.hpp"
#include "usage_release.hpp"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// A tenant and resource changes are held for, kept once per transaction
// however many of its rows an update changes.
struct HeldKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

// One update's change, settled when its statement ends.
struct HeldUpdate {
    ItemPointerData row; // the old version
    Oid relid;
    TransactionId updated_by;
    CommandId updated_in;
    int16 level; // the nesting level of its statement
    // An update the billing trigger saw move the row to another partition
    // (whose delete and insert count it): counted only if a later trigger
    // kept the row where it was, consuming `consumed` then.
    bool counts_if_done;
    const HeldKey* consumed_for;
    int64 consumed; // given back if the update was not done
    const HeldKey* held_for;
    int64 held; // given back if it was
};
static_assert(sizeof(HeldUpdate) == 56, "a row's change stays small: an update may make millions");

// In TopTransactionContext; nothing outside a transaction that made them.
HeldUpdate* held_changes = nullptr;
int held_count = 0;
int held_room = 0;
HTAB* keys = nullptr;

const HeldKey* held_key(const char* tenant_id, const char* resource)
{
    if (keys == nullptr)
        keys = create_backend_hash("zechat_billing held update keys", 16, sizeof(HeldKey),
                                   sizeof(HeldKey), TopTransactionContext);
    HeldKey key = {};
    strlcpy(key.tenant_id, tenant_id, sizeof key.tenant_id);
    strlcpy(key.resource, resource, sizeof key.resource);
    bool found;
    return static_cast<const HeldKey*>(hash_search(keys, &key, HASH_ENTER, &found));
}

bool same_version(const HeldUpdate& x, const HeldUpdate& y)
{
    return x.relid == y.relid &&
           ItemPointerEquals(const_cast<ItemPointer>(&x.row), const_cast<ItemPointer>(&y.row));
}

void give_back(const HeldKey* key, int64 amount, ReleaseOf of)
{
    if (amount > 0)
        release_quota(make_quota_key(key->tenant_id, key->resource), amount, of);
}

void settle(const HeldUpdate& change, bool done)
{
    if (change.counts_if_done) {
        if (!done)
            return;
        if (change.consumed > 0) {
            QuotaRemaining ignored;
            (void)consume_quota(
                make_quota_key(change.consumed_for->tenant_id, change.consumed_for->resource),
                change.consumed, OnRefusal::raise_pt402, &ignored);
        }
        give_back(change.held_for, change.held, ReleaseOf::stored_rows);
        return;
    }
    if (done)
        give_back(change.held_for, change.held, ReleaseOf::stored_rows);
    else
        give_back(change.consumed_for, change.consumed, ReleaseOf::caller);
}

// Settles `count` changes: those of one row version together, in the order
// they were made.
void settle_all(const HeldUpdate* changes, int count)
{
    int* order =
        static_cast<int*>(palloc_extended(sizeof(int) * static_cast<Size>(count), MCXT_ALLOC_HUGE));
    for (int i = 0; i < count; ++i)
        order[i] = i;
    sort_by_row_then_order<HeldUpdate, &HeldUpdate::row, &HeldUpdate::relid>(order, count, changes);
    Relation rel = nullptr;
    BlockNumber blocks = 0;
    for (int first = 0; first < count;) {
        const HeldUpdate& version = changes[order[first]];
        if (first == 0 || changes[order[first - 1]].relid != version.relid) {
            if (rel != nullptr)
                relation_close(rel, NoLock);
            // Locked by the update until the transaction ends, and neither
            // dropped nor truncated while its statement runs; checked all
            // the same, as a version not there is simply not replaced.
            rel = try_relation_open(version.relid, NoLock);
            blocks = rel != nullptr ? RelationGetNumberOfBlocks(rel) : 0;
        }
        // A version is replaced once.  A command that reached it more than
        // once (a join) fired the trigger again only because its earlier
        // attempt was skipped: the last one done is the one.
        int end = first;
        int taken = -1;
        for (; end < count && same_version(changes[order[end]], version); ++end) {
            const HeldUpdate& change = changes[order[end]];
            ItemPointerData row = change.row;
            if (ItemPointerGetBlockNumber(&row) < blocks &&
                replaced_by_change(rel, &row, change.updated_by, change.updated_in, true))
                taken = end;
        }
        for (int k = first; k < end; ++k)
            settle(changes[order[k]], k == taken);
        first = end;
    }
    if (rel != nullptr)
        relation_close(rel, NoLock);
    pfree(order);
}

} // namespace

namespace zechat::billing::pg {

bool update_skippable_after(Relation rel, const Trigger* self)
{
    const TriggerDesc* triggers = rel->trigdesc;
    if (triggers == nullptr)
        return false;
    // PostgreSQL keeps them, and fires them, in the order of their names.
    bool after_self = false;
    for (int i = 0; i < triggers->numtriggers; ++i) {
        const Trigger& trigger = triggers->triggers[i];
        if (trigger.tgoid == self->tgoid)
            after_self = true;
        else if (after_self && trigger.tgfoid != self->tgfoid && TRIGGER_FOR_ROW(trigger.tgtype) &&
                 TRIGGER_FOR_BEFORE(trigger.tgtype) && TRIGGER_FOR_UPDATE(trigger.tgtype) &&
                 trigger.tgenabled != TRIGGER_DISABLED)
            return true;
    }
    return false;
}

bool update_can_be_held()
{
    return statement_writing_cid(statement_nesting_level()) != InvalidCommandId;
}

void hold_update(Relation rel, HeapTuple old_row, const char* resource, const char* consumed_for,
                 int64 consumed, const char* held_for, int64 held_amount, bool counts_if_done)
{
    make_room_for_item(&held_changes, held_count, &held_room, 16, TopTransactionContext, true);
    HeldUpdate change{};
    change.row = old_row->t_self;
    change.relid = RelationGetRelid(rel);
    change.updated_by = GetCurrentTransactionId();
    change.level = static_cast<int16>(statement_nesting_level());
    change.counts_if_done = counts_if_done;
    change.updated_in = statement_writing_cid(change.level);
    if (consumed > 0) {
        change.consumed_for = held_key(consumed_for, resource);
        change.consumed = consumed;
    }
    if (held_amount > 0) {
        change.held_for = held_key(held_for, resource);
        change.held = held_amount;
    }
    held_changes[held_count++] = change;
}

void settle_updates_deeper_than(int level)
{
    if (held_count == 0)
        return;
    // A change rolled back to a savepoint (an EXCEPTION block caught the
    // update's error) took its consumption along and gave nothing back: it
    // goes unread, as its table may be truncated or dropped since (settling
    // it would read the table, and fail).
    int kept = 0;
    int settling = 0;
    for (int i = 0; i < held_count; ++i) {
        const HeldUpdate& change = held_changes[i];
        if (change.level <= level)
            ++kept;
        else if (TransactionIdIsCurrentTransactionId(change.updated_by))
            ++settling;
    }
    if (kept == held_count)
        return;
    // Taken out of the list first: giving quota back may run SQL, whose
    // statements end through here too.  All of them (the common case):
    // the list itself, with no copy.
    HeldUpdate* changes;
    if (kept == 0) {
        changes = held_changes;
        held_changes = nullptr;
        held_room = 0;
    } else {
        changes = static_cast<HeldUpdate*>(
            palloc_extended(sizeof(HeldUpdate) * static_cast<Size>(settling), MCXT_ALLOC_HUGE));
    }
    int taken = 0;
    int still_held = 0;
    for (int i = 0; i < held_count; ++i) {
        const HeldUpdate change = kept == 0 ? changes[i] : held_changes[i];
        if (change.level <= level)
            held_changes[still_held++] = change;
        else if (TransactionIdIsCurrentTransactionId(change.updated_by))
            changes[taken++] = change;
    }
    held_count = still_held;
    if (taken > 0)
        settle_all(changes, taken);
    pfree(changes);
}

void forget_held_updates()
{
    held_changes = nullptr;
    held_count = 0;
    held_room = 0;
    keys = nullptr;
}

} // namespace zechat::billing::pg
