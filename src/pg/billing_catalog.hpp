// Where the extension's objects are in the current database, and whose
// rights internal reads and writes use.
//
// Resolved lazily on first use in a backend and forgotten on any
// invalidation of the billing tables (DROP/CREATE EXTENSION), so nothing
// cached here outlives the objects it names.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "storage/lockdefs.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// Looks up the extension; raises a clear error if it is not installed in
// this database (the library can be loaded without it, by preload).
Oid billing_extension_owner();

// The extension's tables, in the order billing_catalog.cpp names them.
enum class BillingTable {
    resources,
    plans,
    plan_limits,
    subscriptions,
    limit_overrides,
    usage_parts,
    enforced_tables,
};

Oid billing_relation(BillingTable table);

// Opens, or only locks, one of the extension's tables under lockmode.  Its
// oid may have been resolved before the lock was granted, and a transaction
// that dropped the extension (and perhaps created it again) may have
// committed meanwhile: the table is then gone, and this raises 40001
// (retry the transaction) rather than an internal error.  Whatever this
// statement did before belongs to the old installation, so going on against
// the new one is not an option.
Relation open_billing_table(BillingTable table, LOCKMODE lockmode);
void lock_billing_table(BillingTable table, LOCKMODE lockmode);

// The 40001 both raise; `object` names what is gone ("table billing.x").
// For other objects of the extension a statement finds gone the same way.
[[noreturn]] void raise_extension_dropped_meanwhile(const char* object);

// Raises 40001 unless the extension installed now is the one whose
// usage_parts had the oid `usage_relid`, read before a wait: a read that
// waited for a transaction that dropped and created the extension again
// ran its query against the new tables, found by name, under terms cached
// from the old ones (check_quota said true over the new, lower limit; a
// helper's attack of 2026-12-07).
void refuse_other_installation(Oid usage_relid);

// billing.usage_parts: identifies this installation of the extension (a
// dropped and re-created extension gets a new one).
Oid billing_usage_relation();

// Changes whenever the catalog is resolved again, i.e. after any relcache
// invalidation of a billing table (DDL, VACUUM, ANALYZE, TRUNCATE): what is
// derived from table contents can be cached against it.
uint64 billing_catalog_generation();

// False once the extension has been dropped in this database (e.g. earlier
// in the transaction that is committing).  Never raises.
bool billing_extension_installed();

// Is relid one of the extension's configuration or usage tables?  Before
// the catalog is resolved the answer is "maybe", i.e. true.
bool is_billing_relation(Oid relid);

// Is relid one of the configuration tables (resources, plans, plan_limits,
// subscriptions, limit_overrides), or billing._config_changes, whose
// invalidations say one of them changed?  "Maybe" (true) before resolution.
bool is_billing_config_relation(Oid relid);

// billing._config_changes: the relation whose relcache invalidation tells
// every backend that a configuration change committed
// (config_invalidation.cpp).  InvalidOid where the extension's objects are
// 1.0's, which has none.  Not a billing table: its invalidations leave the
// catalog resolved.
Oid billing_config_changes_relation();

// billing.<name>, for a table that not every version of the extension has
// (1.0 has no alerts, no closed_periods; the library serves 1.0's objects
// until ALTER EXTENSION ... UPDATE): InvalidOid when there is none.  Looked
// up on each call, so the update takes effect at once; for rare paths.
Oid billing_table_if_present(const char* name);

// Are the extension's objects in this database still 1.0's (version 1.0,
// and no billing._config_changes)?  Looked up on each call (two syscache
// hits where the view is, as in 1.1), so that the update's own statements
// see what it has made so far: once per period computed (per call of
// billing.period_bounds), not per admission.
bool billing_objects_are_1_0();

// Is relid named like one of the configuration tables, in schema billing?
// Looks the relation up by its oid, never raises and never resolves the
// catalog (a table of the same name without the extension says yes): for
// DDL that may rewrite one (config_invalidation.cpp).
bool names_billing_config_table(Oid relid);

// Called from the relcache invalidation callback.
void forget_billing_catalog_if(Oid relid);

// Called from the roles' syscache invalidation callback: the owner is read
// again at its next use.  Never raises.
void forget_billing_extension_owner();

// Internal SPI work runs as the extension owner, so that application roles
// need no privilege on billing tables.  Plain data, safe across longjmp; an
// error between the two calls is fine because transaction and subtransaction
// abort restore the user id themselves.
struct SavedUser {
    Oid user_id;
    int security_context;
};

void become_extension_owner(SavedUser* saved);
void restore_user(const SavedUser* saved);

} // namespace zechat::billing::pg
