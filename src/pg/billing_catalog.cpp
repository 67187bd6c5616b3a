#include "billing_catalog.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

namespace zechat::billing::pg {

namespace {

constexpr const char* extension_name = "zechat_billing";
// The configuration tables first: tenant terms are derived from them alone.
// In the order of BillingTable.
// clang-format off
constexpr const char* table_names[] = {
    "resources", "plans", "plan_limits", "subscriptions", "limit_overrides",
    "usage_parts", "enforced_tables",
};
// clang-format on
constexpr int config_table_count = static_cast<int>(BillingTable::usage_parts);
constexpr int table_count = sizeof table_names / sizeof table_names[0];
static_assert(table_count == static_cast<int>(BillingTable::enforced_tables) + 1,
              "table_names names every BillingTable");

struct BillingCatalog {
    bool resolved;
    uint64 generation; // counts resolutions
    Oid owner;
    Oid relids[table_count];
    // billing._config_changes, or InvalidOid where the extension's objects
    // are still 1.0's (config_invalidation.cpp).
    Oid config_changes;
};

// Per backend; a backend serves one database for life, and the entry is
// re-resolved after the extension is dropped and created again.
BillingCatalog catalog;

// A role changed since the owner was read.  REASSIGN OWNED changes the
// extension's owner without an invalidation (pg_extension has no cache),
// but what makes the old owner unfit to run the internal SQL (DROP ROLE,
// ALTER ROLE) invalidates roles, which sets this: otherwise sessions that
// ran as the old owner before would keep it, and check_quota would fail in
// them with 42501 until a billing table's definition changed.
bool owner_stale = false;

// What `read` makes of the pg_extension row of extension_oid (given the
// row and the catalog's descriptor), or `absent` when there is none.
template <typename Value, typename Read>
Value read_extension_row(Oid extension_oid, Value absent, Read read)
{
    Relation rel = table_open(ExtensionRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(extension_oid));
    SysScanDesc scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    Value value = HeapTupleIsValid(tuple) ? read(tuple, RelationGetDescr(rel)) : absent;
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return value;
}

Oid extension_owner_of(Oid extension_oid)
{
    return read_extension_row(extension_oid, InvalidOid, [](HeapTuple tuple, TupleDesc) {
        return ((Form_pg_extension)GETSTRUCT(tuple))->extowner;
    });
}

// Is the version pg_extension records for the extension `version`?  False
// when it is not installed.
bool installed_version_is(const char* version)
{
    Oid extension_oid = get_extension_oid(extension_name, true);
    if (!OidIsValid(extension_oid))
        return false;
    return read_extension_row(extension_oid, false, [version](HeapTuple tuple, TupleDesc desc) {
        bool isnull;
        Datum recorded = heap_getattr(tuple, Anum_pg_extension_extversion, desc, &isnull);
        if (isnull)
            return false;
        char* recorded_version = TextDatumGetCString(recorded);
        bool same = strcmp(recorded_version, version) == 0;
        pfree(recorded_version);
        return same;
    });
}

void resolve_catalog()
{
    Oid extension_oid = get_extension_oid(extension_name, true);
    if (!OidIsValid(extension_oid))
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("extension \"%s\" is not installed in this database", extension_name),
                 errhint("Run CREATE EXTENSION %s;", extension_name)));
    Oid schema = get_namespace_oid("billing", false);
    BillingCatalog resolved = {};
    resolved.owner = extension_owner_of(extension_oid);
    for (int i = 0; i < table_count; ++i) {
        resolved.relids[i] = get_relname_relid(table_names[i], schema);
        if (!OidIsValid(resolved.relids[i]))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("table billing.%s of extension %s is missing", table_names[i],
                                   extension_name)));
    }
    resolved.config_changes = get_relname_relid("_config_changes", schema);
    resolved.resolved = true;
    resolved.generation = catalog.generation + 1;
    catalog = resolved;
}

} // namespace

Oid billing_extension_owner()
{
    if (catalog.resolved && owner_stale) {
        Oid extension_oid = get_extension_oid(extension_name, true);
        if (OidIsValid(extension_oid))
            catalog.owner = extension_owner_of(extension_oid);
        else
            catalog.resolved = false; // dropped: resolve_catalog says so
    }
    owner_stale = false;
    if (!catalog.resolved)
        resolve_catalog();
    return catalog.owner;
}

void forget_billing_extension_owner()
{
    owner_stale = true;
}

uint64 billing_catalog_generation()
{
    if (!catalog.resolved)
        resolve_catalog();
    return catalog.generation;
}

Oid billing_relation(BillingTable table)
{
    if (!catalog.resolved)
        resolve_catalog();
    return catalog.relids[static_cast<int>(table)];
}

namespace {

void raise_billing_table_gone(BillingTable table)
{
    raise_extension_dropped_meanwhile(
        psprintf("table billing.%s", table_names[static_cast<int>(table)]));
}

} // namespace

void raise_extension_dropped_meanwhile(const char* object)
{
    ereport(ERROR,
            (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
             errmsg("extension %s was dropped by a concurrent transaction", extension_name),
             errdetail("The extension's %s, which this statement needed, no longer exists.",
                       object),
             errhint("Retry the transaction.")));
    pg_unreachable();
}

namespace {

// The table's oid, locked under lockmode.  Granting a lock this transaction
// did not hold takes in the invalidations committed meanwhile, a drop's
// among them, and on_relcache_invalidation then forgets the catalog: only
// then can the table be gone.  Looking it up at every lock cost each one-row
// insert transaction about 2,000 instructions (2026-12-07), as most lock a
// billing table anew.
Oid locked_billing_relation(BillingTable table, LOCKMODE lockmode)
{
    Oid relid = billing_relation(table);
    LockRelationOid(relid, lockmode);
    if (!catalog.resolved && !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
        raise_billing_table_gone(table);
    return relid;
}

} // namespace

void lock_billing_table(BillingTable table, LOCKMODE lockmode)
{
    (void)locked_billing_relation(table, lockmode);
}

Relation open_billing_table(BillingTable table, LOCKMODE lockmode)
{
    return table_open(locked_billing_relation(table, lockmode), NoLock);
}

Oid billing_usage_relation()
{
    return billing_relation(BillingTable::usage_parts);
}

void refuse_other_installation(Oid usage_relid)
{
    if (!billing_extension_installed() || billing_usage_relation() != usage_relid)
        raise_extension_dropped_meanwhile("table billing.usage_parts");
}

bool billing_extension_installed()
{
    if (catalog.resolved)
        return true;
    return OidIsValid(get_extension_oid(extension_name, true));
}

namespace {

// Is relid among the first `count` tables of table_names?  Before the
// catalog is resolved the answer is "maybe", i.e. true.
bool is_among_first_tables(Oid relid, int count)
{
    if (!catalog.resolved)
        return true;
    for (int i = 0; i < count; ++i)
        if (catalog.relids[i] == relid)
            return true;
    return false;
}

} // namespace

bool is_billing_relation(Oid relid)
{
    return is_among_first_tables(relid, table_count);
}

bool is_billing_config_relation(Oid relid)
{
    return is_among_first_tables(relid, config_table_count) ||
           (OidIsValid(relid) && relid == catalog.config_changes);
}

Oid billing_config_changes_relation()
{
    if (!catalog.resolved)
        resolve_catalog();
    return catalog.config_changes;
}

Oid billing_table_if_present(const char* name)
{
    return get_relname_relid(name, get_namespace_oid("billing", false));
}

bool billing_objects_are_1_0()
{
    // The version alone would not do: the update's script runs before it
    // is recorded, and its statements need 1.1's objects to be taken as
    // such once made.  The view alone would not either: one dropped by hand
    // (ALTER EXTENSION ... DROP VIEW first) would turn 1.1 back to 1.0.
    return !OidIsValid(billing_table_if_present("_config_changes")) && installed_version_is("1.0");
}

bool names_billing_config_table(Oid relid)
{
    Oid schema = get_namespace_oid("billing", true);
    if (!OidIsValid(schema) || get_rel_namespace(relid) != schema)
        return false;
    char* name = get_rel_name(relid);
    bool named = false;
    for (int i = 0; i < config_table_count && name != nullptr && !named; ++i)
        named = strcmp(name, table_names[i]) == 0;
    if (name != nullptr)
        pfree(name);
    return named;
}

void forget_billing_catalog_if(Oid relid)
{
    if (catalog.resolved && (!OidIsValid(relid) || is_billing_relation(relid)))
        catalog.resolved = false;
}

void become_extension_owner(SavedUser* saved)
{
    Oid owner = billing_extension_owner();
    GetUserIdAndSecContext(&saved->user_id, &saved->security_context);
    SetUserIdAndSecContext(owner, saved->security_context | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
}

void restore_user(const SavedUser* saved)
{
    SetUserIdAndSecContext(saved->user_id, saved->security_context);
}

} // namespace zechat::billing::pg
