// A hand edit of billing.usage_parts (the table says "do not edit"; an
// administrator may still, as an answer to a support case or a bulk load):
// in shared-memory mode the counters hold the committed usage as loaded
// from the table, and would keep it.  Admission would go on from the old
// usage while the reports read the new, and recount() (which corrects
// against the counter) would write its correction on top of the edit.
//
// The BEFORE statement trigger does what the TRUNCATE trigger does
// (usage_parts_truncated.cpp), before the statement changes a row: it takes
// the table's ACCESS EXCLUSIVE lock, which waits for every transaction that
// consumed (each holds ROW EXCLUSIVE from its first consumption) and makes
// new consumers and loads wait for this transaction's end; it then takes
// the database's counters out of shared memory, and they load again from
// the table as this transaction leaves it (edited, or as before if it rolls
// back).  A counter still in use is this transaction's own consumption,
// made before the edit: refused; so is consuming after it in the same
// transaction.  Lock mode reads the table at every admission, but keeps
// whether there are parts of other writers than 0 to add (below).
//
// The extension's own statements on the table (usage_store.cpp) pass: the
// mark below names the statement running (the backend's transaction and
// subtransaction), so that a mark left by an error is never taken for a
// later statement's.
#include "usage_parts_edited.hpp"

#include "pending_usage.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/trigger.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace zechat::billing::pg {

namespace {

struct OwnWrite {
    LocalTransactionId transaction;
    SubTransactionId subtransaction;
};

// The extension's write running now; InvalidLocalTransactionId when none.
OwnWrite own_write = {InvalidLocalTransactionId, InvalidSubTransactionId};

bool own_write_running()
{
    return own_write.transaction == MyProc->lxid &&
           own_write.subtransaction == GetCurrentSubTransactionId();
}

} // namespace

int execute_own_usage_parts_write(SPIPlanPtr plan, Datum* args, long count)
{
    own_write = {MyProc->lxid, GetCurrentSubTransactionId()};
    int rc = SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot, false,
                                  true, count);
    own_write = {InvalidLocalTransactionId, InvalidSubTransactionId};
    return rc;
}

void refuse_change_over_own_usage(UsagePartsChange change)
{
    // Each tracked key holds its row's usage as read at its first
    // admission, and what the transaction changed since is written at
    // commit, onto the table as the edit left it: after a TRUNCATE, a
    // gauge's release of 600 became a part of -600, and the tenant could
    // store 1500 under a limit of 1000 (until 2026-12-07, a helper's hunt).
    if (!transaction_tracks_usage())
        return;
    report_usage_parts_change_refused(
        change, "This transaction consumed, released or corrected usage, changed a tenant's "
                "billing schedule, or was refused a consumption: lock mode goes on from the "
                "usage it read of those keys, and writes what it changed when it commits, onto "
                "the table as this statement leaves it.");
}

void report_usage_parts_change_refused(UsagePartsChange change, const char* detail)
{
    const char* verb = change == UsagePartsChange::truncated ? "truncate" : "edit";
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_IN_USE),
             errmsg("cannot %s billing.usage_parts in a transaction that changed usage", verb),
             errdetail_internal("%s", detail),
             errhint("Run the %s in a transaction of its own.", verb)));
    pg_unreachable();
}

} // namespace zechat::billing::pg

namespace {

Datum usage_parts_edited_body(FunctionCallInfo fcinfo)
{
    using namespace zechat::billing::pg;
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._usage_parts_edited() must be called as a trigger")));
    if (own_write_running())
        return PointerGetDatum(nullptr);
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    // Both modes: whether the database holds parts of writers other than 0
    // is kept per catalog generation (usage_store.cpp, other_parts_exist),
    // and a part added by hand must reach every backend's next admission.
    CacheInvalidateRelcache(data->tg_relation);
    if (!counter_shmem_available()) {
        refuse_change_over_own_usage(UsagePartsChange::edited);
        return PointerGetDatum(nullptr);
    }
    LockRelationOid(RelationGetRelid(data->tg_relation), AccessExclusiveLock);
    forget_counters_for_change(UsagePartsChange::edited);
    return PointerGetDatum(nullptr);
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_usage_parts_edited, usage_parts_edited_body)
}
