// Library entry: module magic, settings and the invalidation callbacks.
#include "module_settings.hpp"

#include "absent_moves.hpp"
#include "billing_catalog.hpp"
#include "config_invalidation.hpp"
#include "counter_shmem.hpp"
#include "dropped_database.hpp"
#include "held_refusals.hpp"
#include "late_schedule_changes.hpp"
#include "limit_log_marks.hpp"
#include "trigger_layout.hpp"
#include "partition_moves.hpp"
#include "pending_usage.hpp"
#include "shared_hints.hpp"
#include "statement_nesting.hpp"
#include "tenant_terms.hpp"
#include "usage_alerts.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
}

namespace zechat::billing::pg {

bool zb_enabled = true; // zechat_billing.enabled (module_settings.hpp)

namespace {

// Order matters: cached terms and trigger layouts are checked against the
// catalog's relation list before that list is forgotten.
void on_relcache_invalidation(Datum, Oid relid)
{
    invalidate_tenant_terms(relid);
    invalidate_trigger_layouts(relid);
    forget_partition_roots(relid);
    forget_billing_catalog_if(relid);
}

void on_role_invalidation(Datum, int, uint32)
{
    forget_billing_extension_owner();
}

} // namespace

} // namespace zechat::billing::pg

void _PG_init(void)
{
    // pg_upgrade loads libraries to check them; it must find nothing to do.
    if (IsBinaryUpgrade)
        return;

    DefineCustomBoolVariable(
        "zechat_billing.enabled", "Enforce quotas (off bypasses enforcement for maintenance).",
        "Changes made while off are not counted; run billing.recount() afterwards.",
        &zechat::billing::pg::zb_enabled, true, PGC_SUSET, 0, NULL, NULL, NULL);
    zechat::billing::pg::define_alert_settings();
    // A postmaster setting can only be defined while the postmaster loads
    // the library: it exists in shared_preload_libraries mode only.
    if (process_shared_preload_libraries_in_progress) {
        DefineCustomIntVariable("zechat_billing.max_counters",
                                "How many (tenant, resource, period) counters shared memory holds.",
                                NULL, &zechat::billing::pg::zb_max_counters, 50000, 100, 10000000,
                                PGC_POSTMASTER, 0, NULL, NULL, NULL);
        zechat::billing::pg::request_counter_shmem();
        zechat::billing::pg::request_shared_hints();
        // Before the pending usage's callbacks (below), so called after
        // them: a rolled-back move's marks go once its carries are undone.
        zechat::billing::pg::register_absent_move_callbacks();
        zechat::billing::pg::register_dropped_database_hook();
        zechat::billing::pg::register_config_change_callback();
    }
    MarkGUCPrefixReserved("zechat_billing");

    CacheRegisterRelcacheCallback(zechat::billing::pg::on_relcache_invalidation, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHOID, zechat::billing::pg::on_role_invalidation, (Datum)0);
    // Before the pending usage's callbacks, so called after them: a refusal
    // held by SQL that the commit runs (alerts' triggers) is raised too.
    zechat::billing::pg::register_held_refusal_callbacks();
    zechat::billing::pg::register_pending_usage_callbacks();
    zechat::billing::pg::register_limit_log_mark_callbacks();
    zechat::billing::pg::register_statement_nesting_hook();
    // Last, so called first at PRE_COMMIT: its claims of later periods
    // (late_schedule_changes.hpp) are the transaction's last changes, and
    // go through the pending usage's commit like those made before.
    zechat::billing::pg::register_late_schedule_change_callbacks();
}
