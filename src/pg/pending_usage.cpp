#include <cstring>

#include "pending_usage.hpp"

#include "billing_catalog.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

struct PendingKey {
    char tenant_id[64];
    char resource[48];
    TimestampTz period_start;
};

// What one subtransaction admitted on one key.  A stack per entry, innermost
// subtransaction on top; subtransaction ids only grow, so the top is always
// the most recent.
struct SubxactPart {
    SubTransactionId subxact;
    int64 delta;
    SubxactPart* outer;
};

} // namespace

struct PendingUsage {
    PendingKey key; // hash key, must be first
    int64 base_used;
    int64 delta;                   // sum of all parts
    SubTransactionId lock_subxact; // the subtransaction holding the row lock
    SubxactPart* parts;
};

namespace {

// Created once per backend (in TopMemoryContext) and emptied at the end of
// every transaction; `pending_used` says whether this transaction has put
// anything in it.  The subtransaction parts live in TopTransactionContext.
HTAB* pending = nullptr;
bool pending_used = false;

// A transaction that touched this many keys (a COPY over many tenants)
// leaves the table's memory behind; past it the table is rebuilt.
constexpr long pending_keep_limit = 1024;

void forget_pending_usage()
{
    if (!pending_used)
        return;
    pending_used = false;
    if (hash_get_num_entries(pending) > pending_keep_limit) {
        hash_destroy(pending);
        pending = nullptr;
        return;
    }
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, pending);
    while (auto* entry = static_cast<PendingUsage*>(hash_seq_search(&status)))
        (void)hash_search(pending, &entry->key, HASH_REMOVE, nullptr);
}

PendingKey make_key(const QuotaKey& key, TimestampTz period_start)
{
    PendingKey k;
    std::memset(&k, 0, sizeof k);
    std::memcpy(k.tenant_id, key.tenant_id, key.tenant_id_length);
    std::memcpy(k.resource, key.resource, key.resource_length);
    k.period_start = period_start;
    return k;
}

void write_pending_usage()
{
    if (!pending_used)
        return;
    // DROP EXTENSION later in the same transaction took billing.usage with it.
    if (!billing_extension_installed())
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, pending);
    while (auto* entry = static_cast<PendingUsage*>(hash_seq_search(&status))) {
        if (entry->delta == 0)
            continue;
        QuotaKey key{entry->key.tenant_id, static_cast<int>(std::strlen(entry->key.tenant_id)),
                     entry->key.resource, static_cast<int>(std::strlen(entry->key.resource))};
        add_usage(key, entry->key.period_start, entry->delta);
        entry->base_used += entry->delta;
        entry->delta = 0;
        entry->parts = nullptr;
    }
}

void on_transaction_event(XactEvent event, void*)
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
        // Still inside the transaction: an error here aborts it, as it must.
        write_pending_usage();
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PREPARE:
        // TopTransactionContext, and the parts with it, is about to go.
        forget_pending_usage();
        break;
    default:
        break;
    }
}

void take_back_subxact(PendingUsage* entry, SubTransactionId subxact)
{
    while (entry->parts != nullptr && entry->parts->subxact == subxact) {
        SubxactPart* part = entry->parts;
        entry->delta -= part->delta;
        entry->parts = part->outer;
        pfree(part);
    }
}

void hand_to_parent(PendingUsage* entry, SubTransactionId subxact, SubTransactionId parent)
{
    SubxactPart* top = entry->parts;
    if (top != nullptr && top->subxact == subxact) {
        if (top->outer != nullptr && top->outer->subxact == parent) {
            top->outer->delta += top->delta;
            entry->parts = top->outer;
            pfree(top);
        } else {
            top->subxact = parent;
        }
    }
    if (entry->lock_subxact == subxact)
        entry->lock_subxact = parent;
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (!pending_used)
        return;
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, pending);
    while (auto* entry = static_cast<PendingUsage*>(hash_seq_search(&status))) {
        if (event == SUBXACT_EVENT_COMMIT_SUB) {
            hand_to_parent(entry, subxact, parent);
            continue;
        }
        take_back_subxact(entry, subxact);
        // The row lock goes with the aborted subtransaction: forget the key,
        // the next consumption locks and reads it again.
        if (entry->lock_subxact == subxact)
            (void)hash_search(pending, &entry->key, HASH_REMOVE, nullptr);
    }
}

} // namespace

PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start)
{
    if (!pending_used)
        return nullptr;
    PendingKey k = make_key(key, period_start);
    return static_cast<PendingUsage*>(hash_search(pending, &k, HASH_FIND, nullptr));
}

PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used)
{
    if (pending == nullptr) {
        HASHCTL ctl;
        std::memset(&ctl, 0, sizeof ctl);
        ctl.keysize = sizeof(PendingKey);
        ctl.entrysize = sizeof(PendingUsage);
        ctl.hcxt = TopMemoryContext;
        pending = hash_create("zechat_billing pending usage", 64, &ctl,
                              HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    pending_used = true;
    PendingKey k = make_key(key, period_start);
    bool found;
    auto* entry = static_cast<PendingUsage*>(hash_search(pending, &k, HASH_ENTER, &found));
    if (!found) {
        entry->base_used = base_used;
        entry->delta = 0;
        entry->lock_subxact = GetCurrentSubTransactionId();
        entry->parts = nullptr;
    }
    return entry;
}

int64 pending_current_usage(const PendingUsage* entry)
{
    return entry->base_used + entry->delta;
}

void add_pending_usage(PendingUsage* entry, int64 delta)
{
    SubTransactionId current = GetCurrentSubTransactionId();
    if (entry->parts == nullptr || entry->parts->subxact != current) {
        auto* part = static_cast<SubxactPart*>(
            MemoryContextAlloc(TopTransactionContext, sizeof(SubxactPart)));
        part->subxact = current;
        part->delta = 0;
        part->outer = entry->parts;
        entry->parts = part;
    }
    entry->parts->delta += delta;
    entry->delta += delta;
}

int64 pending_delta_for(const QuotaKey& key, TimestampTz period_start)
{
    PendingUsage* entry = find_pending_usage(key, period_start);
    return entry != nullptr ? entry->delta : 0;
}

void for_each_pending_of_tenant(const char* tenant_id,
                                void (*fn)(const char* resource, TimestampTz period_start,
                                           int64 delta, void* arg),
                                void* arg)
{
    if (!pending_used)
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, pending);
    while (auto* entry = static_cast<PendingUsage*>(hash_seq_search(&status)))
        if (entry->delta != 0 && std::strcmp(entry->key.tenant_id, tenant_id) == 0)
            fn(entry->key.resource, entry->key.period_start, entry->delta, arg);
}

void register_pending_usage_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg
