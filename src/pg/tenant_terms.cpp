#include <algorithm>
#include <cstring>

#include "tenant_terms.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "config_change_counts.hpp"
#include "quota_key_fields.hpp"
#include "read_snapshot.hpp"
#include "shared_hints.hpp"
#include "stored_terms.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/inval.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

struct TermsKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

struct TermsEntry {
    TermsKey key; // must be first: dynahash keys
    StoredTerms stored;
    // Cached current billing period of a subscribed tenant; recomputed when
    // now() leaves it.
    bool has_period;
    TimestampTz period_start;
    TimestampTz period_end;
};

// A backend that serves many tenants must not grow without bound: past this
// many entries a sixteenth of them go (evict_entries).
constexpr long max_cached_terms = 20000;
constexpr long terms_kept_on_eviction = max_cached_terms - max_cached_terms / 16;
// Reads of a key's terms again when a configuration change arrived while
// reading them (terms_at).
constexpr int max_rereads = 3;

HTAB* terms_cache = nullptr;
bool terms_stale = false;
uint64 terms_generation = 0; // tenant_terms_generation()
TermsEntry scratch_entry;    // terms loaded while a change was arriving

void create_terms_cache()
{
    terms_cache = create_backend_hash("zechat_billing tenant terms", 256, sizeof(TermsKey),
                                      sizeof(TermsEntry), CacheMemoryContext);
    terms_stale = false;
}

// Shared-memory mode: configuration changes committed that this backend
// has taken account of (config_invalidation.cpp).  A change counted since
// marks the cache stale, as its invalidation message will, and so does
// every look while one is committing (config_change_committing).
uint64 config_changes_seen = 0;

// Returns whether a change was committing.
bool notice_config_changes_committed()
{
    // In the order opposite to the change's COMMIT callback, which counts
    // its commit and then stops counting as committing: no committing seen
    // means the commit is counted already, or the change not visible yet
    // (read the other way round, a backend paused in between would miss
    // both).
    bool committing = config_change_committing();
    pg_read_barrier();
    uint64 committed = config_changes_committed();
    if (committed == config_changes_seen && !committing)
        return false;
    config_changes_seen = committed;
    terms_stale = true;
    ++terms_generation;
    return committing;
}

// Shared-memory mode: the stamp (shared_hints.hpp) of what the backend
// keeps, taken by ensure_fresh_cache before it checks that: terms shared
// under it were read from the tables no earlier than it, and what this
// backend reads combines the rows of its tenant with what it keeps of the
// plans, which may be as old as the check (a stamp taken after the check
// would share a plan's interval that an edit committed in between had
// replaced, under the edit's count, and every backend would then count the
// plan's tenants in the old period).
TermsStamp fresh_stamp;
bool fresh_stamp_taken = false;

// Invalidation callbacks may run in the middle of a load (opening a table
// accepts invalidation messages), so they only set terms_stale; the cache is
// rebuilt here, at the start of a lookup, where no entry pointer is held.
void ensure_fresh_cache()
{
    // The invalidations first: see current_terms_invalidations().
    fresh_stamp.invalidations = current_terms_invalidations();
    bool committing = notice_config_changes_committed();
    fresh_stamp.changes_committed = config_changes_seen;
    // Not during recovery: replay counts no commit and runs no relcache
    // callback, and a backend that starts after it takes no message sent
    // before, so a hot standby's stamp would not move for a replayed change
    // (taken there, it would let a standby's new backends, then those of
    // the promoted server, keep a limit replaced on the primary, and admit
    // past the new one after promotion).
    fresh_stamp_taken = shared_hints_available() && !committing && !RecoveryInProgress();
    AcceptInvalidationMessages();
    if (terms_cache != nullptr && terms_stale) {
        hash_destroy(terms_cache);
        terms_cache = nullptr;
        forget_plan_terms();
    }
    if (terms_cache == nullptr)
        create_terms_cache();
    else if (hash_get_num_entries(terms_cache) >= max_cached_terms)
        evict_entries(terms_cache, terms_kept_on_eviction);
}

// count_periods_from_now(): per tenant, the moment its periods are counted
// at in this transaction (a table in the transaction's memory, so taken for
// empty in the next one).
struct TenantMoment {
    char tenant_id[sizeof(TermsKey::tenant_id)]; // hash key
    TimestampTz from;
};
HTAB* moments = nullptr;
LocalTransactionId moments_lxid = InvalidLocalTransactionId;

HTAB* moments_of_this_transaction(bool create)
{
    if (moments_lxid != MyProc->lxid) {
        moments = nullptr; // went with the memory of the transaction that made it
        moments_lxid = MyProc->lxid;
    }
    if (moments == nullptr && create)
        moments =
            create_backend_hash("zechat_billing period moments", 8, sizeof(TenantMoment::tenant_id),
                                sizeof(TenantMoment), TopTransactionContext);
    return moments;
}

// When the tenant's periods are counted at: now(), or the moment above.
TimestampTz period_clock(const TermsKey& key)
{
    TimestampTz start = GetCurrentTransactionStartTimestamp();
    HTAB* table = moments_of_this_transaction(false);
    if (table == nullptr)
        return start;
    auto* moment =
        static_cast<TenantMoment*>(hash_search(table, key.tenant_id, HASH_FIND, nullptr));
    return moment != nullptr && moment->from > start ? moment->from : start;
}

// Shared-memory mode: a transaction that re-reads a tenant's terms from
// the tables (forget_tenant_terms: it saw a schedule change carry its
// period) takes no shared terms for the rest of it.
LocalTransactionId shared_terms_refused_lxid = InvalidLocalTransactionId;

TermsHintKey terms_hint_key(const TermsKey& key)
{
    TermsHintKey hint_key;
    std::memset(&hint_key, 0, sizeof hint_key);
    hint_key.database = MyDatabaseId;
    hint_key.store = billing_usage_relation();
    std::memcpy(hint_key.tenant_id, key.tenant_id, sizeof key.tenant_id);
    std::memcpy(hint_key.resource, key.resource, sizeof key.resource);
    return hint_key;
}

// The key's terms, from what another backend read under the current stamp
// (shared_hints.hpp) or else from the tables, then shared when nothing
// says they might not be committed and current.
//
// Not in a transaction that has written anything: it may have changed the
// configuration, which the latest snapshot shows it, uncommitted.  The
// trigger that says so (config_invalidation.cpp) may not have run yet: a
// schedule change's carry of usage, an AFTER trigger that reads every
// subscriber's terms, runs before it (its name sorts first).  Otherwise an
// interval edit would share its subscribers' new periods before it
// committed, and consumers would count in them usage the edit's carry then
// misses.
void load_stored_terms(const QuotaKey& key, const TermsKey& hash_key, StoredTerms* stored)
{
    bool shareable = fresh_stamp_taken && !TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
                     shared_terms_refused_lxid != MyProc->lxid && !reading_in_parallel_mode();
    const TermsStamp& stamp = fresh_stamp;
    TermsHintKey hint_key;
    if (shareable) {
        hint_key = terms_hint_key(hash_key);
        if (find_terms_hint(hint_key, stamp, stored))
            return;
    }
    read_stored_terms(key, stored);
    // As for the backend's own cache (terms_at): not if a change arrived
    // while reading.
    if (shareable && !terms_stale)
        publish_terms_hint(hint_key, stamp, *stored);
}

TermsKey terms_key(const QuotaKey& key)
{
    TermsKey hash_key;
    std::memset(&hash_key, 0, sizeof hash_key);
    copy_key_fields(key, hash_key.tenant_id, hash_key.resource);
    return hash_key;
}

// The key's terms, its period the one containing the tenant's period
// clock, or with `at_this_moment` the clock's time now if later.
TenantTerms terms_at(const QuotaKey& key, bool at_this_moment)
{
    ensure_fresh_cache();
    // Taken before anything is read: invalidations accepted while reading
    // (on taking a lock) move the number past it.
    uint64 generation = terms_generation;
    TermsKey hash_key = terms_key(key);

    bool found;
    auto* entry = static_cast<TermsEntry*>(hash_search(terms_cache, &hash_key, HASH_FIND, &found));
    if (entry == nullptr) {
        // Load into a local first: an error while loading must not leave a
        // half-filled entry in the cache.
        TermsEntry loaded;
        // A configuration change that arrived while loading may be an ALTER
        // TABLE that rewrote a table (every row written again under its
        // transaction id) and committed while this read waited for its
        // lock: the snapshot, taken before, then finds that table empty
        // (no subscription, no override, or a limit of 0).  Then read
        // again, with a new snapshot and the locks held now;
        // a few times at most, for changes that keep coming.
        for (int reread = 0;; ++reread) {
            std::memset(&loaded, 0, sizeof loaded);
            load_stored_terms(key, hash_key, &loaded.stored);
            if (!terms_stale || reading_in_parallel_mode() || reread == max_rereads)
                break;
            ensure_fresh_cache();
            generation = terms_generation;
        }
        loaded.key = hash_key;
        if (terms_stale || reading_in_parallel_mode()) {
            // Changes kept arriving while loading, or this was read with a
            // parallel query's snapshot (read_snapshot.hpp): what was read
            // may predate a change.  Use it for this call only, which is
            // concurrent with that change anyway, and let the next call reload.
            scratch_entry = loaded;
            entry = &scratch_entry;
        } else {
            entry =
                static_cast<TermsEntry*>(hash_search(terms_cache, &hash_key, HASH_ENTER, &found));
            *entry = loaded;
        }
    }

    const StoredTerms& stored = entry->stored;
    TenantTerms terms;
    terms.kind = stored.kind;
    terms.subscription = stored.subscription;
    terms.limit = stored.limit;
    terms.has_usage_period = false;
    terms.usage_period_start = DT_NOBEGIN;
    terms.period_end = DT_NOEND;
    terms.billing_period_start = DT_NOBEGIN;
    terms.counted_at = DT_NOBEGIN;
    terms.counted_before_anchor = false;
    terms.generation = generation;

    if (stored.subscription != SubscriptionState::none) {
        TimestampTz now = period_clock(hash_key);
        if (at_this_moment)
            now = std::max(now, GetCurrentTimestamp());
        if (!entry->has_period || now < entry->period_start || now >= entry->period_end) {
            BillingPeriod period = billing_period_containing(
                stored.anchor, &stored.billing_interval, now, this_database_calendar());
            entry->period_start = period.start;
            entry->period_end = period.end;
            entry->has_period = true;
        }
        terms.billing_period_start = entry->period_start;
        terms.counted_at = now;
        terms.counted_before_anchor = now < stored.anchor;
    }
    if (stored.kind == ResourceKind::gauge) {
        terms.has_usage_period = true;
    } else if (stored.subscription != SubscriptionState::none) {
        terms.has_usage_period = true;
        terms.usage_period_start = entry->period_start;
        terms.period_end = entry->period_end;
    }
    return terms;
}

} // namespace

TenantTerms terms_for(const QuotaKey& key)
{
    return terms_at(key, false);
}

TenantTerms terms_at_this_moment(const QuotaKey& key)
{
    return terms_at(key, true);
}

void count_periods_from_now(const QuotaKey& key)
{
    HTAB* table = moments_of_this_transaction(true);
    TermsKey hash_key = terms_key(key);
    auto* moment =
        static_cast<TenantMoment*>(hash_search(table, hash_key.tenant_id, HASH_ENTER, nullptr));
    moment->from = GetCurrentTimestamp();
}

void forget_tenant_terms(const QuotaKey& key)
{
    // The plans' terms too: a change of a plan's interval keeps its
    // subscribers' plan id, and the plan's cached terms would still give the
    // old period (a consumer would find its month's row at 0 after an
    // interval edit, read the month again, and leave its consumption
    // there).  Not the overrides: a tenant's limit, not its
    // period, and reading them all again cost a meeting of every tenant.
    forget_plans();
    shared_terms_refused_lxid = MyProc->lxid;
    if (terms_cache == nullptr)
        return;
    TermsKey hash_key = terms_key(key);
    (void)hash_search(terms_cache, &hash_key, HASH_REMOVE, nullptr);
}

const char* subscription_state_name(SubscriptionState state)
{
    switch (state) {
    case SubscriptionState::none:
        return "none";
    case SubscriptionState::active:
        return "active";
    case SubscriptionState::suspended:
        return "suspended";
    case SubscriptionState::canceled:
        return "canceled";
    }
    return "unknown";
}

bool tenant_terms_may_have_changed()
{
    AcceptInvalidationMessages();
    notice_config_changes_committed();
    return terms_stale;
}

void invalidate_tenant_terms(Oid relid)
{
    // Not for billing.usage: (auto)vacuum and analyze invalidate it often,
    // and terms do not depend on it.
    if (!OidIsValid(relid) || is_billing_config_relation(relid)) {
        terms_stale = true;
        ++terms_generation;
        count_terms_invalidation();
    }
}

uint64 tenant_terms_generation()
{
    return terms_generation;
}

} // namespace zechat::billing::pg
