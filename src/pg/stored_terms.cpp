#include <cstring>

#include "stored_terms.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "column_access.hpp"
#include "quota_key_fields.hpp"
#include "read_snapshot.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// One column of a primary key and the value it must equal.
struct KeyColumn {
    const char* name;
    RegProcedure equality;
    Datum value;
};

// A row of one of the extension's tables found by its primary key.  The
// table and index are opened with AccessShareLock, kept to the end of the
// transaction like any reader's; the slot is valid until end_lookup().
struct KeyedRow {
    Relation rel;
    Relation index;
    IndexScanDesc scan;
    TupleTableSlot* slot;
    bool found;
};

// What every tenant shares, cached per backend until forget_plan_terms():
// a resource's kind, and a plan's billing interval and limit for a
// resource.  A backend meeting a thousand tenants of a few plans then reads
// two rows per tenant (subscription, override) instead of five.
struct ResourceKindKey {
    char resource[resource_field_bytes];
};

struct ResourceKindEntry {
    ResourceKindKey key; // hash key, must be first
    ResourceKind kind;
};

struct PlanTermsKey {
    char plan_id[64];
    char resource[resource_field_bytes];
};

struct PlanTermsEntry {
    PlanTermsKey key; // hash key, must be first
    Interval billing_interval;
    StoredLimit limit;
};

HTAB* resource_kinds = nullptr;
HTAB* plan_terms = nullptr;

// The limit overrides, all of them while there are few (tenants with a
// custom limit are the exception), cached per backend until
// forget_plan_terms() like what tenants share: a backend meeting a thousand
// tenants then finds that most have none without looking each one up.
// Past max_cached_overrides rows each tenant's is read by key.
struct OverrideKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

struct OverrideEntry {
    OverrideKey key; // hash key, must be first
    StoredLimit limit;
};

constexpr long max_cached_overrides = 1000;

enum class OverridesCached { not_yet, all, too_many };

HTAB* overrides = nullptr;
OverridesCached overrides_cached = OverridesCached::not_yet;

// The number of column `name` of rel, checked to be of `type`: the tables
// belong to the extension, so a mismatch means someone altered them.
AttrNumber column_number(Relation rel, const char* name, Oid type)
{
    AttrNumber number = column_by_name(rel, name);
    if (number == InvalidAttrNumber ||
        TupleDescAttr(RelationGetDescr(rel), number - 1)->atttypid != type)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table billing.%s of extension zechat_billing has no column \"%s\" "
                               "of type %s",
                               RelationGetRelationName(rel), name, format_type_be(type)),
                        errhint("Reinstall the extension.")));
    return number;
}

void find_by_primary_key(KeyedRow* row, BillingTable table, Snapshot snapshot, const KeyColumn* key,
                         int key_columns)
{
    row->rel = open_billing_table(table, AccessShareLock);
    Oid primary_key = RelationGetPrimaryKeyIndex(row->rel);
    if (!OidIsValid(primary_key))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table billing.%s of extension zechat_billing has no primary key",
                               RelationGetRelationName(row->rel)),
                        errhint("Reinstall the extension.")));
    row->index = index_open(primary_key, AccessShareLock);
    ScanKeyData scan_keys[2];
    Assert(key_columns <= 2);
    bool key_matches = row->index->rd_index->indnkeyatts == key_columns;
    for (int i = 0; key_matches && i < key_columns; ++i) {
        // Index columns in primary key order.
        AttrNumber heap_column = column_number(row->rel, key[i].name, TEXTOID);
        key_matches = row->index->rd_index->indkey.values[i] == heap_column;
        index_column_equals(&scan_keys[i], row->index, static_cast<AttrNumber>(i + 1),
                            key[i].equality, key[i].value);
    }
    if (!key_matches)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("the primary key of billing.%s of extension zechat_billing has "
                               "been changed",
                               RelationGetRelationName(row->rel)),
                        errhint("Reinstall the extension.")));
    row->slot = table_slot_create(row->rel, nullptr);
    row->scan = index_beginscan(row->rel, row->index, snapshot, key_columns, 0);
    index_rescan(row->scan, scan_keys, key_columns, nullptr, 0);
    row->found = index_getnext_slot(row->scan, ForwardScanDirection, row->slot);
}

void end_lookup(KeyedRow* row)
{
    index_endscan(row->scan);
    ExecDropSingleTupleTableSlot(row->slot);
    index_close(row->index, NoLock);
    table_close(row->rel, NoLock);
}

Datum column_value(KeyedRow* row, const char* name, Oid type, bool* isnull)
{
    return slot_getattr(row->slot, column_number(row->rel, name, type), isnull);
}

bool text_column_is(KeyedRow* row, const char* name, const char* expected)
{
    bool isnull;
    Datum value = column_value(row, name, TEXTOID, &isnull);
    return !isnull && text_datum_is(value, expected);
}

// hard_limit of plan_limits or limit_overrides: NULL is unlimited.
StoredLimit stored_limit(KeyedRow* row)
{
    if (!row->found)
        return StoredLimit{false, Limit::of(0)};
    bool isnull;
    Datum value = column_value(row, "hard_limit", INT8OID, &isnull);
    return StoredLimit{true, isnull ? Limit::none() : Limit::of(DatumGetInt64(value))};
}

SubscriptionState subscription_state(KeyedRow* subscription)
{
    if (text_column_is(subscription, "status", "active"))
        return SubscriptionState::active;
    if (text_column_is(subscription, "status", "suspended"))
        return SubscriptionState::suspended;
    return SubscriptionState::canceled;
}

ResourceKind resource_kind(const QuotaKey& key, Datum resource, Snapshot snapshot)
{
    ResourceKindKey cache_key;
    std::memset(&cache_key, 0, sizeof cache_key);
    std::memcpy(cache_key.resource, key.resource, key.resource_length);
    if (resource_kinds == nullptr)
        resource_kinds =
            create_backend_hash("zechat_billing resource kinds", 16, sizeof(ResourceKindKey),
                                sizeof(ResourceKindEntry), CacheMemoryContext);
    bool found;
    auto* entry =
        static_cast<ResourceKindEntry*>(hash_search(resource_kinds, &cache_key, HASH_FIND, &found));
    if (entry != nullptr)
        return entry->kind;

    KeyedRow row;
    KeyColumn resource_key[] = {{"resource", F_TEXTEQ, resource}};
    find_by_primary_key(&row, BillingTable::resources, snapshot, resource_key, 1);
    bool known = row.found;
    ResourceKind kind =
        known && text_column_is(&row, "kind", "gauge") ? ResourceKind::gauge : ResourceKind::period;
    end_lookup(&row);
    if (!known)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("unknown resource \"%s\"", key.resource),
                        errhint("Known resources are listed in billing.resources.")));
    if (reading_in_parallel_mode())
        return kind; // read with an older snapshot: see read_snapshot.hpp
    entry = static_cast<ResourceKindEntry*>(
        hash_search(resource_kinds, &cache_key, HASH_ENTER, &found));
    entry->kind = kind;
    return kind;
}

// The plan's billing interval and its limit for the resource.
PlanTermsEntry read_plan_terms(const QuotaKey& key, Datum plan_id, Datum resource,
                               Snapshot snapshot)
{
    PlanTermsEntry read;
    std::memset(&read, 0, sizeof read);
    KeyedRow row;
    KeyColumn plan_key[] = {{"plan_id", F_TEXTEQ, plan_id}};
    find_by_primary_key(&row, BillingTable::plans, snapshot, plan_key, 1);
    bool plan_found = row.found;
    if (plan_found) {
        bool isnull;
        read.billing_interval =
            *DatumGetIntervalP(column_value(&row, "billing_interval", INTERVALOID, &isnull));
    }
    end_lookup(&row);
    // The foreign key makes this impossible in one snapshot.
    if (!plan_found)
        elog(ERROR, "zechat_billing: the plan of tenant %s is missing", key.tenant_id);

    KeyColumn limit_key[] = {{"plan_id", F_TEXTEQ, plan_id}, {"resource", F_TEXTEQ, resource}};
    find_by_primary_key(&row, BillingTable::plan_limits, snapshot, limit_key, 2);
    read.limit = stored_limit(&row);
    end_lookup(&row);
    return read;
}

// read_plan_terms() through the cache; a plan id too long for its key is
// read every time.
PlanTermsEntry plan_terms_of(const QuotaKey& key, Datum plan_id, Datum resource, Snapshot snapshot)
{
    text* plan_text = DatumGetTextPP(plan_id);
    Size plan_length = VARSIZE_ANY_EXHDR(plan_text);
    PlanTermsKey cache_key;
    if (plan_length >= sizeof cache_key.plan_id)
        return read_plan_terms(key, plan_id, resource, snapshot);
    std::memset(&cache_key, 0, sizeof cache_key);
    std::memcpy(cache_key.plan_id, VARDATA_ANY(plan_text), plan_length);
    std::memcpy(cache_key.resource, key.resource, key.resource_length);
    if (plan_terms == nullptr)
        plan_terms = create_backend_hash("zechat_billing plan terms", 16, sizeof(PlanTermsKey),
                                         sizeof(PlanTermsEntry), CacheMemoryContext);
    bool found;
    auto* entry =
        static_cast<PlanTermsEntry*>(hash_search(plan_terms, &cache_key, HASH_FIND, &found));
    if (entry != nullptr)
        return *entry;
    PlanTermsEntry read = read_plan_terms(key, plan_id, resource, snapshot);
    if (reading_in_parallel_mode())
        return read; // read with an older snapshot: see read_snapshot.hpp
    read.key = cache_key;
    entry = static_cast<PlanTermsEntry*>(hash_search(plan_terms, &cache_key, HASH_ENTER, &found));
    *entry = read;
    return read;
}

// Reads every override into `overrides` (with the snapshot of the terms'
// read), or notes that there are too many to keep.  The rows are collected
// first and the table built after, so that an error while scanning leaves
// nothing half built in CacheMemoryContext.
void cache_all_overrides(Snapshot snapshot)
{
    Relation rel = open_billing_table(BillingTable::limit_overrides, AccessShareLock);
    AttrNumber tenant_column = column_number(rel, "tenant_id", TEXTOID);
    AttrNumber resource_column = column_number(rel, "resource", TEXTOID);
    AttrNumber limit_column = column_number(rel, "hard_limit", INT8OID);
    auto* rows = static_cast<OverrideEntry*>(palloc0(sizeof(OverrideEntry) * max_cached_overrides));
    long count = 0;
    bool all_fit = true;
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        if (count == max_cached_overrides) {
            all_fit = false;
            break;
        }
        bool tenant_null, resource_null, limit_null;
        text* tenant = DatumGetTextPP(slot_getattr(slot, tenant_column, &tenant_null));
        text* resource = DatumGetTextPP(slot_getattr(slot, resource_column, &resource_null));
        Datum limit = slot_getattr(slot, limit_column, &limit_null);
        Size tenant_length = VARSIZE_ANY_EXHDR(tenant);
        Size resource_length = VARSIZE_ANY_EXHDR(resource);
        OverrideEntry& row = rows[count];
        // Longer than a key holds: no tenant or resource a key can name.
        if (tenant_length >= sizeof row.key.tenant_id ||
            resource_length >= sizeof row.key.resource)
            continue;
        std::memcpy(row.key.tenant_id, VARDATA_ANY(tenant), tenant_length);
        std::memcpy(row.key.resource, VARDATA_ANY(resource), resource_length);
        row.limit =
            StoredLimit{true, limit_null ? Limit::none() : Limit::of(DatumGetInt64(limit))};
        ++count;
    }
    table_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, NoLock);
    if (!all_fit) {
        overrides_cached = OverridesCached::too_many;
        return;
    }
    overrides = create_backend_hash("zechat_billing limit overrides", count > 16 ? count : 16,
                                    sizeof(OverrideKey), sizeof(OverrideEntry),
                                    CacheMemoryContext);
    for (long i = 0; i < count; ++i) {
        bool found;
        auto* entry =
            static_cast<OverrideEntry*>(hash_search(overrides, &rows[i].key, HASH_ENTER, &found));
        entry->limit = rows[i].limit;
    }
    overrides_cached = OverridesCached::all;
}

// The tenant's override of the resource's limit (found = false: none).
StoredLimit override_of(const QuotaKey& key, Datum tenant, Datum resource, Snapshot snapshot)
{
    // A parallel query's snapshot may predate a change already seen here
    // (read_snapshot.hpp): then nothing is cached from it.
    if (overrides_cached == OverridesCached::not_yet && !reading_in_parallel_mode())
        cache_all_overrides(snapshot);
    if (overrides_cached == OverridesCached::all && !reading_in_parallel_mode()) {
        OverrideKey cache_key;
        std::memset(&cache_key, 0, sizeof cache_key);
        copy_key_fields(key, cache_key.tenant_id, cache_key.resource);
        bool found;
        auto* entry =
            static_cast<OverrideEntry*>(hash_search(overrides, &cache_key, HASH_FIND, &found));
        return entry != nullptr ? entry->limit : StoredLimit{false, Limit::of(0)};
    }
    KeyedRow row;
    KeyColumn override_key[] = {{"tenant_id", F_TEXTEQ, tenant}, {"resource", F_TEXTEQ, resource}};
    find_by_primary_key(&row, BillingTable::limit_overrides, snapshot, override_key, 2);
    StoredLimit limit = stored_limit(&row);
    end_lookup(&row);
    return limit;
}

void read_with_snapshot(const QuotaKey& key, Snapshot snapshot, StoredTerms* terms)
{
    Datum tenant = PointerGetDatum(cstring_to_text_with_len(key.tenant_id, key.tenant_id_length));
    Datum resource = PointerGetDatum(cstring_to_text_with_len(key.resource, key.resource_length));
    KeyedRow row;

    terms->kind = resource_kind(key, resource, snapshot);

    KeyColumn tenant_key[] = {{"tenant_id", F_TEXTEQ, tenant}};
    find_by_primary_key(&row, BillingTable::subscriptions, snapshot, tenant_key, 1);
    bool subscribed = row.found;
    Datum plan_id = 0;
    terms->subscription = SubscriptionState::none;
    terms->anchor = 0;
    std::memset(&terms->billing_interval, 0, sizeof terms->billing_interval);
    if (subscribed) {
        bool isnull;
        terms->subscription = subscription_state(&row);
        terms->anchor =
            DatumGetTimestampTz(column_value(&row, "period_anchor", TIMESTAMPTZOID, &isnull));
        // Copied out of the page: the plan's lookups below need it.
        plan_id = datumCopy(column_value(&row, "plan_id", TEXTOID, &isnull), false, -1);
    }
    end_lookup(&row);

    StoredLimit plan_limit{false, Limit::of(0)};
    if (subscribed) {
        PlanTermsEntry plan = plan_terms_of(key, plan_id, resource, snapshot);
        terms->billing_interval = plan.billing_interval;
        plan_limit = plan.limit;
    }

    // Without a subscription nothing may be consumed, whatever an override
    // says (one set up before subscribe(), or kept after the subscription
    // was deleted): the limit is 0, as the reports show it.
    if (!subscribed) {
        terms->limit = Limit::of(0);
        return;
    }
    terms->limit = effective_limit(override_of(key, tenant, resource, snapshot), plan_limit);
}

} // namespace

void forget_plans()
{
    if (plan_terms != nullptr)
        hash_destroy(plan_terms);
    plan_terms = nullptr;
}

void forget_plan_terms()
{
    if (resource_kinds != nullptr)
        hash_destroy(resource_kinds);
    resource_kinds = nullptr;
    forget_plans();
    if (overrides != nullptr)
        hash_destroy(overrides);
    overrides = nullptr;
    overrides_cached = OverridesCached::not_yet;
}

void read_stored_terms(const QuotaKey& key, StoredTerms* terms)
{
    // Scans and copies are freed as one, whatever context the caller is in.
    MemoryContext context = AllocSetContextCreate(
        CurrentMemoryContext, "zechat_billing stored terms", ALLOCSET_SMALL_SIZES);
    MemoryContext caller = MemoryContextSwitchTo(context);
    // One snapshot for every lookup, so that the rows agree with each other.
    Snapshot snapshot = RegisterSnapshot(snapshot_for_reading());
    read_with_snapshot(key, snapshot, terms);
    UnregisterSnapshot(snapshot);
    MemoryContextSwitchTo(caller);
    MemoryContextDelete(context);
}

} // namespace zechat::billing::pg
