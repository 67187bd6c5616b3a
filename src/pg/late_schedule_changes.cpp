#include "late_schedule_changes.hpp"

#include <algorithm>

#include "billing_catalog.hpp"
#include "growing_array.hpp"
#include "later_usage_in_flight.hpp"
#include "owner_spi.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

namespace zechat::billing::pg {

namespace {

// A tenant whose schedule this transaction changed, and the end of its
// period at the transaction's now() under the schedule it left.
struct ChangedSchedule {
    char* tenant_id; // in TopTransactionContext
    TimestampTz period_end;
    SubTransactionId subxact; // the subtransaction that changed it
};

// In TopTransactionContext: forgotten (not freed) when the transaction ends.
ChangedSchedule* changed = nullptr;
int changed_count = 0;
int changed_capacity = 0;
// The earliest period_end among them: most commits come before it and
// check nothing.
TimestampTz earliest_end = DT_NOEND;

SPIPlanPtr committed_plan = nullptr;

// The resource of the tenant's usage committed (as the latest snapshot
// shows it) in a period resource's period starting at or after $2.
constexpr const char* committed_query =
    "SELECT p.resource FROM billing.usage_parts AS p"
    "  JOIN billing.resources AS r ON r.resource OPERATOR(pg_catalog.=) p.resource"
    "   AND r.kind OPERATOR(pg_catalog.=) 'period'"
    " WHERE p.tenant_id OPERATOR(pg_catalog.=) $1 AND p.period_start OPERATOR(pg_catalog.>=) $2"
    " GROUP BY p.resource, p.period_start"
    " HAVING pg_catalog.sum(p.used) OPERATOR(pg_catalog.>) 0"
    " ORDER BY p.resource LIMIT 1";

// As the extension owner, with the latest snapshot: the transaction's own
// (REPEATABLE READ) snapshot misses what consumers committed since.  The
// change locked usage_parts already, so the snapshot is not older than
// the table.
char* committed_later_usage(const ChangedSchedule& change)
{
    SavedUser saved;
    connect_spi_as_owner(&saved);
    if (committed_plan == nullptr) {
        Oid types[2] = {TEXTOID, TIMESTAMPTZOID};
        committed_plan = prepare_kept_plan(committed_query, 2, types);
    }
    Datum args[2] = {CStringGetTextDatum(change.tenant_id), TimestampTzGetDatum(change.period_end)};
    int rc = SPI_execute_snapshot(committed_plan, args, nullptr, GetLatestSnapshot(),
                                  InvalidSnapshot, true, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "zechat_billing: reading a tenant's later usage failed: %s",
             SPI_result_code_string(rc));
    char* resource = nullptr;
    if (SPI_processed > 0) {
        char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        resource = MemoryContextStrdup(TopTransactionContext, value);
    }
    disconnect_spi(&saved);
    return resource;
}

// In flight first, then committed: a consumer in flight at the first look
// that commits before the second is seen by the second's snapshot.  The
// other way round it was seen by neither (a helper's attack, both modes:
// 10 of 5 with the change held between the two looks).
void check_again(const ChangedSchedule& change)
{
    if (char* resource = later_usage_in_flight(change.tenant_id, change.period_end))
        raise_change_after_period_end(change.tenant_id, resource, true);
    if (char* resource = committed_later_usage(change))
        raise_change_after_period_end(change.tenant_id, resource, false);
}

// A prepared change commits whenever COMMIT PREPARED comes, with nothing
// to check it again then: consumers of the tenant's later periods meanwhile
// would land outside the new schedule's periods (a helper's attack, lock
// mode: 10 of 5; shared-memory mode refused such a PREPARE already, for the
// marks of its moves).
[[noreturn]] void refuse_to_prepare(const ChangedSchedule& change)
{
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("cannot PREPARE a transaction that changed a billing schedule"),
             errdetail("The billing schedule of tenant \"%s\" changed in this transaction; "
                       "usage counted in its later periods before COMMIT PREPARED would not be "
                       "checked.",
                       change.tenant_id),
             errhint("Change subscriptions and plans outside the two-phase transaction.")));
    pg_unreachable();
}

void forget_changes()
{
    changed = nullptr;
    changed_count = 0;
    changed_capacity = 0;
    earliest_end = DT_NOEND;
}

void on_transaction_event(XactEvent event, void*)
{
    // Not changed_count: a subtransaction's rollback may have emptied the
    // array, which still goes with the transaction's memory.
    if (changed == nullptr)
        return;
    if (event == XACT_EVENT_PRE_PREPARE && changed_count > 0 && billing_extension_installed())
        refuse_to_prepare(changed[0]);
    if (event == XACT_EVENT_PRE_COMMIT) {
        TimestampTz now = GetCurrentTimestamp();
        // Dropped after the change, the extension takes the change along.
        if (now < earliest_end || !billing_extension_installed())
            return;
        for (int i = 0; i < changed_count; ++i)
            if (changed[i].period_end <= now)
                check_again(changed[i]);
        return;
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
        forget_changes();
}

// A rolled-back change is no change: its entries go (earliest_end stays,
// which only makes a commit look at the others).  A subtransaction's
// entries are the last ones: those its own subtransactions left were
// handed to it as they committed.
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
        return;
    int first = changed_count;
    while (first > 0 && changed[first - 1].subxact == subxact)
        --first;
    if (event == SUBXACT_EVENT_ABORT_SUB)
        changed_count = first;
    else
        for (int i = first; i < changed_count; ++i)
            changed[i].subxact = parent;
}

// billing._check_change_at_commit(tenant_id, period_end): notes a change of
// the tenant's schedule made by this (sub)transaction, whose period under
// the old schedule ends at period_end (_close_past_periods).
Datum check_change_at_commit_body(FunctionCallInfo fcinfo)
{
    const char* tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
    TimestampTz period_end = PG_GETARG_TIMESTAMPTZ(1);
    // Not looked for among those noted already: a tenant changed twice is
    // checked twice, where an edit of a plan's interval over thousands of
    // subscribers would compare each with every other.
    SubTransactionId subxact = GetCurrentSubTransactionId();
    make_room_for_item(&changed, changed_count, &changed_capacity, 16, TopTransactionContext);
    changed[changed_count++] =
        ChangedSchedule{MemoryContextStrdup(TopTransactionContext, tenant_id), period_end, subxact};
    earliest_end = std::min(earliest_end, period_end);
    PG_RETURN_VOID();
}

// billing._refuse_change_after_period_end(tenant_id, resource, in_flight).
Datum refuse_change_after_period_end_body(FunctionCallInfo fcinfo)
{
    raise_change_after_period_end(text_to_cstring(PG_GETARG_TEXT_PP(0)),
                                  text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_BOOL(2));
}

} // namespace

void raise_change_after_period_end(const char* tenant_id, const char* resource, bool in_flight)
{
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("cannot change the billing schedule of tenant \"%s\" in a transaction begun in "
                    "a billing period that has ended since",
                    tenant_id),
             in_flight ? errdetail("Consumption of resource \"%s\" in a period that began after "
                                   "the transaction did is in flight.",
                                   resource)
                       : errdetail("Usage of resource \"%s\" counts in a period that began after "
                                   "the transaction did.",
                                   resource),
             errhint("Make the change again in a new transaction.")));
    pg_unreachable();
}

void register_late_schedule_change_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_check_change_at_commit, zechat::billing::pg::check_change_at_commit_body)
ZB_GUARDED_ENTRY(zb_refuse_change_after_period_end,
                 zechat::billing::pg::refuse_change_after_period_end_body)
}
