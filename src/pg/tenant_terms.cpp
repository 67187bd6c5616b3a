#include <cstring>

#include "tenant_terms.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

struct TermsKey {
    char tenant_id[64];
    char resource[48];
};

struct TermsEntry {
    TermsKey key; // must be first: dynahash keys
    ResourceKind kind;
    SubscriptionState subscription;
    Limit limit;
    TimestampTz anchor;
    Interval billing_interval;
    // Cached current billing period of a subscribed tenant; recomputed when
    // now() leaves it.
    bool has_period;
    TimestampTz period_start;
    TimestampTz period_end;
};

// A backend that serves many tenants must not grow without bound: past this
// many entries the cache starts over.
constexpr long max_cached_terms = 20000;

HTAB* terms_cache = nullptr;
bool terms_stale = false;
SPIPlanPtr terms_plan = nullptr;
TermsEntry scratch_entry; // terms loaded while a change was arriving

constexpr const char* terms_query =
    "SELECT kind, subscribed, subscription_status, period_anchor, billing_interval, "
    "       unlimited, hard_limit "
    "  FROM billing._tenant_terms($1) "
    " WHERE resource OPERATOR(pg_catalog.=) $2";

void create_terms_cache()
{
    terms_cache = create_backend_hash("zechat_billing tenant terms", 256, sizeof(TermsKey),
                                      sizeof(TermsEntry), CacheMemoryContext);
    terms_stale = false;
}

// Invalidation callbacks may run in the middle of our own SPI work, so they
// only set terms_stale; the cache is rebuilt here, at the start of a lookup,
// where no entry pointer is held.
void ensure_fresh_cache()
{
    AcceptInvalidationMessages();
    if (terms_cache != nullptr &&
        (terms_stale || hash_get_num_entries(terms_cache) >= max_cached_terms)) {
        hash_destroy(terms_cache);
        terms_cache = nullptr;
    }
    if (terms_cache == nullptr)
        create_terms_cache();
}

SubscriptionState parse_subscription_state(bool subscribed, const char* status)
{
    if (!subscribed)
        return SubscriptionState::none;
    if (std::strcmp(status, "active") == 0)
        return SubscriptionState::active;
    if (std::strcmp(status, "suspended") == 0)
        return SubscriptionState::suspended;
    return SubscriptionState::canceled;
}

bool get_bool(HeapTuple row, TupleDesc desc, int column, bool* isnull)
{
    return DatumGetBool(SPI_getbinval(row, desc, column, isnull));
}

// Reads the terms from the tables into *entry.  Uses the latest snapshot, so
// that a change committed before this call is seen even inside a REPEATABLE
// READ transaction: limits are enforcement state, not transactional data of
// the caller.
void load_terms(const QuotaKey& key, TermsEntry* entry)
{
    SavedUser saved;
    become_extension_owner(&saved);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "zechat_billing: SPI_connect failed");

    if (terms_plan == nullptr) {
        Oid types[2] = {TEXTOID, TEXTOID};
        SPIPlanPtr plan = SPI_prepare(terms_query, 2, types);
        if (plan == nullptr)
            elog(ERROR, "zechat_billing: could not prepare terms query: %s",
                 SPI_result_code_string(SPI_result));
        SPI_keepplan(plan);
        terms_plan = plan;
    }

    Datum args[2] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource)};
    int rc = SPI_execute_snapshot(terms_plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
                                  true, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "zechat_billing: terms query failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("unknown resource \"%s\"", key.resource),
                        errhint("Known resources are listed in billing.resources.")));

    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;

    char* kind = SPI_getvalue(row, desc, 1);
    entry->kind = std::strcmp(kind, "gauge") == 0 ? ResourceKind::gauge : ResourceKind::period;

    bool subscribed = get_bool(row, desc, 2, &isnull);
    char* status = SPI_getvalue(row, desc, 3);
    entry->subscription = parse_subscription_state(subscribed, status != nullptr ? status : "");

    entry->has_period = false;
    entry->anchor = 0;
    std::memset(&entry->billing_interval, 0, sizeof entry->billing_interval);
    if (subscribed) {
        entry->anchor = DatumGetTimestampTz(SPI_getbinval(row, desc, 4, &isnull));
        Interval* step = DatumGetIntervalP(SPI_getbinval(row, desc, 5, &isnull));
        entry->billing_interval = *step;
    }

    bool unlimited = get_bool(row, desc, 6, &isnull);
    Datum hard_limit = SPI_getbinval(row, desc, 7, &isnull);
    entry->limit = unlimited ? Limit::none() : Limit::of(isnull ? 0 : DatumGetInt64(hard_limit));

    SPI_finish();
    restore_user(&saved);
}

} // namespace

TenantTerms terms_for(const QuotaKey& key)
{
    ensure_fresh_cache();

    TermsKey hash_key;
    std::memset(&hash_key, 0, sizeof hash_key);
    std::memcpy(hash_key.tenant_id, key.tenant_id, key.tenant_id_length);
    std::memcpy(hash_key.resource, key.resource, key.resource_length);

    bool found;
    auto* entry = static_cast<TermsEntry*>(hash_search(terms_cache, &hash_key, HASH_FIND, &found));
    if (entry == nullptr) {
        // Load into a local first: an error while loading must not leave a
        // half-filled entry in the cache.
        TermsEntry loaded;
        std::memset(&loaded, 0, sizeof loaded);
        load_terms(key, &loaded);
        loaded.key = hash_key;
        if (terms_stale) {
            // A configuration change arrived while loading: what was read may
            // predate it.  Use it for this call only, which is concurrent
            // with that change anyway, and let the next call reload.
            scratch_entry = loaded;
            entry = &scratch_entry;
        } else {
            entry =
                static_cast<TermsEntry*>(hash_search(terms_cache, &hash_key, HASH_ENTER, &found));
            *entry = loaded;
        }
    }

    TenantTerms terms;
    terms.kind = entry->kind;
    terms.subscription = entry->subscription;
    terms.limit = entry->limit;
    terms.has_usage_period = false;
    terms.usage_period_start = DT_NOBEGIN;
    terms.period_end = DT_NOEND;
    terms.billing_period_start = DT_NOBEGIN;

    if (entry->subscription != SubscriptionState::none) {
        TimestampTz now = GetCurrentTransactionStartTimestamp();
        if (!entry->has_period || now < entry->period_start || now >= entry->period_end) {
            BillingPeriod period =
                billing_period_containing(entry->anchor, &entry->billing_interval, now);
            entry->period_start = period.start;
            entry->period_end = period.end;
            entry->has_period = true;
        }
        terms.billing_period_start = entry->period_start;
    }
    if (entry->kind == ResourceKind::gauge) {
        terms.has_usage_period = true;
    } else if (entry->subscription != SubscriptionState::none) {
        terms.has_usage_period = true;
        terms.usage_period_start = entry->period_start;
        terms.period_end = entry->period_end;
    }
    return terms;
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

void invalidate_tenant_terms(Oid relid)
{
    // Not for billing.usage: (auto)vacuum and analyze invalidate it often,
    // and terms do not depend on it.
    if (!OidIsValid(relid) || is_billing_config_relation(relid))
        terms_stale = true;
}

} // namespace zechat::billing::pg
