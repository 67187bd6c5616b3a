#include <cstring>

#include "pending_usage_entry.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "growing_array.hpp"
#include "insert_confirmation.hpp"
#include "items_by_tenant.hpp"
#include "quota_key_fields.hpp"
#include "usage_part_rows.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

// Created once per backend (in TopMemoryContext) and emptied at the end of
// every transaction.  The subtransaction parts live in TopTransactionContext.
HTAB* pending = nullptr;

} // namespace

// The entries of `pending`, in a plain array (TopMemoryContext): the commit
// and subtransaction callbacks walk them several times per transaction, and
// a dynahash scan visits every bucket, about 350 instructions each time for
// a one-key transaction.  Dynahash entries do not move, so the pointers stay
// valid until the entry is removed, which goes through untrack().  A
// transaction that has touched no key has touched_count == 0, and every
// callback returns at once.
PendingUsage** touched = nullptr;
int touched_count = 0;

namespace {

int touched_capacity = 0;

// touched[0 .. indexed_by_tenant) are in items_by_tenant:
// for_each_pending_of_tenant builds that index when a transaction has
// touched many keys, and adds what it touched since at each call; removing
// an entry (which moves the last one) drops it, to be built anew.
int indexed_by_tenant = 0;

void forget_index_by_tenant()
{
    if (indexed_by_tenant == 0)
        return;
    reset_items_by_tenant();
    indexed_by_tenant = 0;
}

// Room for one more entry, made before the entry is created: once it is in
// the table, recording it in the array must not fail.
void make_room_to_track()
{
    make_room_for_item(&touched, touched_count, &touched_capacity, 16, TopMemoryContext);
}

} // namespace

// Removes touched[i] from the table and the array; the last one takes its
// place, so a walk by index stays at i.
void untrack(int i)
{
    forget_index_by_tenant();
    if (touched[i]->pin_waits)
        stop_waiting_to_give_back_pin(touched[i]);
    (void)hash_search(pending, &touched[i]->key, HASH_REMOVE, nullptr);
    touched[i] = touched[--touched_count];
    if (i < touched_count)
        touched[i]->touched_index = i;
}

namespace {

// A transaction that touched this many keys (a COPY over many tenants)
// leaves the table's memory behind; past it the table is rebuilt.
constexpr long pending_keep_limit = 1024;

} // namespace

void forget_pending_usage()
{
    forget_subxact_records();
    if (touched_count == 0)
        return;
    forget_waiting_pins();
    forget_unconfirmed_inserts();
    forget_index_by_tenant();
    if (touched_count > pending_keep_limit) {
        hash_destroy(pending);
        pending = nullptr;
        pfree(touched);
        touched = nullptr;
        touched_count = 0;
        touched_capacity = 0;
        return;
    }
    while (touched_count > 0)
        untrack(touched_count - 1);
}

namespace {

PendingKey make_key(const QuotaKey& key, TimestampTz period_start)
{
    PendingKey k;
    std::memset(&k, 0, sizeof k);
    copy_key_fields(key, k.tenant_id, k.resource);
    k.period_start = period_start;
    k.store = billing_usage_relation();
    return k;
}

} // namespace

QuotaKey quota_key_of(const PendingUsage* entry)
{
    return quota_key_in(entry->key.tenant_id, entry->key.resource);
}

bool has_change(const PendingUsage* entry)
{
    return entry->consumed != 0 || entry->released != 0;
}

TimestampTz pending_admitted_period_end(const PendingUsage* entry)
{
    return entry->usage_period_end;
}

bool transaction_tracks_usage()
{
    return touched_count > 0;
}

// What of the entry's change this commit has not written yet.
int64 unwritten_change(const PendingUsage* entry)
{
    return entry->consumed - entry->released - entry->written;
}

namespace {

PendingUsage* enter_pending_usage(const QuotaKey& key, TimestampTz period_start, bool* found)
{
    if (pending == nullptr) {
        pending = create_backend_hash("zechat_billing pending usage", 64, sizeof(PendingKey),
                                      sizeof(PendingUsage), TopMemoryContext);
    }
    PendingKey k = make_key(key, period_start);
    uint32 hash = get_hash_value(pending, &k);
    auto* entry = static_cast<PendingUsage*>(
        hash_search_with_hash_value(pending, &k, hash, HASH_FIND, found));
    if (*found)
        return entry;
    // Room first: once the entry is in the table, recording it in the
    // array and its hold's subtransaction must not fail.
    make_room_to_track();
    make_room_for_subxact_record();
    SubTransactionId current = GetCurrentSubTransactionId();
    entry = static_cast<PendingUsage*>(
        hash_search_with_hash_value(pending, &k, hash, HASH_ENTER, found));
    if (!*found) {
        entry->touched_index = touched_count;
        touched[touched_count++] = entry;
        entry->counter = nullptr;
        entry->base_used = 0;
        entry->hold_subxact = current;
        entry->consumed = 0;
        entry->released = 0;
        entry->drawn = 0;
        entry->parts = nullptr;
        entry->alert_terms_known = false;
        entry->alert_limit = Limit::none();
        entry->usage_period_end = 0;
        entry->alert_period_start = 0;
        entry->alert_terms_generation = 0;
        entry->moved_out_subxact = InvalidSubTransactionId;
        entry->others_in_flight_at_move = false;
        entry->carry_excluded = 0;
        entry->usage_before = 0;
        entry->alert_carried = 0;
        entry->alert_corrected_after = 0;
        entry->committing = 0;
        entry->written = 0;
        entry->part_written = false;
        entry->passed = false;
        entry->move_epoch_seen = 0;
        entry->move_epoch_admitted = 0;
        entry->corrected_first = false;
        entry->crossed = 0;
        entry->used_at_commit = 0;
        entry->subxact_marks = SubxactMarks{InvalidSubTransactionId, 0};
        entry->leaving = false;
        entry->pin_waits = false;
        note_subxact_state(entry, current);
    }
    return entry;
}

} // namespace

PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start)
{
    if (touched_count == 0)
        return nullptr;
    PendingKey k = make_key(key, period_start);
    return static_cast<PendingUsage*>(hash_search(pending, &k, HASH_FIND, nullptr));
}

PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used,
                                  int64 already_added)
{
    bool found;
    PendingUsage* entry = enter_pending_usage(key, period_start, &found);
    if (!found) {
        entry->base_used = base_used;
        entry->usage_before = base_used - already_added;
    }
    return entry;
}

PendingUsage* track_counter_usage(const QuotaKey& key, TimestampTz period_start)
{
    bool found;
    PendingUsage* entry = enter_pending_usage(key, period_start, &found);
    // Entered before pinning, so that a pin is never left without an entry
    // to give it back; if pinning fails the entry stays without a counter
    // and the next call tries again.
    if (entry->counter == nullptr) {
        // Held to the end of the transaction, as the commit's write of the
        // part takes it: an ALTER, a rewrite or a DROP EXTENSION of the
        // table waits for this transaction, as for lock mode's, instead of
        // taking the table away from under its commit.
        lock_usage_parts_for_writing();
        make_room_for_subxact_record();
        entry->hold_subxact = GetCurrentSubTransactionId();
        note_subxact_state(entry, entry->hold_subxact);
        entry->counter = pin_counter(key, period_start);
    }
    return entry;
}

bool pending_passed(const PendingUsage* entry)
{
    return entry->passed;
}

CounterEntry* pending_counter(const PendingUsage* entry)
{
    return entry->counter;
}

QuotaKey pending_quota_key(const PendingUsage* entry)
{
    return quota_key_of(entry);
}

int64 pending_current_usage(const PendingUsage* entry)
{
    return entry->base_used + entry->consumed - entry->released;
}

int64 pending_consumed(const PendingUsage* entry)
{
    return entry->consumed;
}

int64 pending_released(const PendingUsage* entry)
{
    return entry->released;
}

int64 pending_drawn(const PendingUsage* entry)
{
    return entry->drawn;
}

void for_each_pending_of_tenant(const char* tenant_id,
                                void (*fn)(const char* resource, TimestampTz period_start,
                                           int64 delta, void* arg),
                                void* arg)
{
    // Few keys: walked.  Many: through the index by tenant, which a change
    // of a plan's interval needs, asking for each subscriber in turn while
    // it adds the keys of each (walking them all made it quadratic).
    constexpr int walk_below = 64;
    auto report = [&](const PendingUsage* entry) {
        // Not what a round of the commit wrote to the table already (a
        // trigger on billing.alerts reading usage).
        int64 delta = unwritten_change(entry);
        if (delta != 0)
            fn(entry->key.resource, entry->key.period_start, delta, arg);
    };
    if (touched_count < walk_below) {
        for (int i = 0; i < touched_count; ++i)
            if (std::strcmp(touched[i]->key.tenant_id, tenant_id) == 0)
                report(touched[i]);
        return;
    }
    for (; indexed_by_tenant < touched_count; ++indexed_by_tenant)
        add_item_of_tenant(touched[indexed_by_tenant]->key.tenant_id, touched[indexed_by_tenant]);
    void* const* items;
    int count = items_of_tenant(tenant_id, &items);
    for (int i = 0; i < count; ++i)
        report(static_cast<const PendingUsage*>(items[i]));
}

void for_each_pending(void (*fn)(const char* tenant_id, const char* resource,
                                 TimestampTz period_start, int64 delta, void* arg),
                      void* arg)
{
    for (int i = 0; i < touched_count; ++i) {
        const PendingUsage* entry = touched[i];
        int64 delta = unwritten_change(entry); // as for_each_pending_of_tenant
        if (delta != 0)
            fn(entry->key.tenant_id, entry->key.resource, entry->key.period_start, delta, arg);
    }
}

} // namespace zechat::billing::pg
