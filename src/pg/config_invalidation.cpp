// Trigger on the configuration tables (020_config_invalidation.sql: per row,
// and per statement for TRUNCATE, enabled ALWAYS): queue a relcache
// invalidation of billing._config_changes, a view nothing reads
// (PostgreSQL keeps one per relation and command, however many rows
// change).  PostgreSQL delivers
// it to every backend of the database when this transaction commits, and
// replays it locally on rollback; the extension's relcache callback then
// drops its cached tenant terms (tenant_terms.hpp).
//
// PostgreSQL makes a committed change visible (it leaves the list of
// running transactions) a moment before it sends those messages, and a
// backend consuming in that instant would still use the terms it cached:
// one that read the changed row itself would then consume under the old
// limit.  In shared-memory mode the commit is also counted in
// shared memory from the transaction's COMMIT callback, which runs in
// between: a backend that sees the count move drops its cache at once.
// The change becomes visible just before that callback, so it is also
// counted as committing from its PRE_COMMIT callback until then (or its
// ABORT), and backends read terms from the tables meanwhile.  COMMIT
// PREPARED runs no transaction callback: it is counted the same way around
// the statement (config_utility_counted), whatever it commits, and when a
// logical replication worker does its work, as that worker's commit
// (applies_commit_prepared).  ALTER TABLE of a configuration table fires
// no trigger but can change its rows (ALTER COLUMN ... TYPE ... USING
// rewrites them), or bring back what the trigger missed (ENABLE TRIGGER
// after changes made while it was disabled): the hook marks its
// transaction as a configuration change too, so that the instant is
// closed for it and new backends stop taking terms shared before it.  Lock
// mode has no shared memory of its own; the instant stays (README).
#include "config_invalidation.hpp"

#include "billing_catalog.hpp"
#include "config_change_counts.hpp"
#include "pg_boundary.hpp"
#include "utility_chain.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "replication/logicalworker.h"
#include "tcop/utility.h"
#include "utils/inval.h"
}

namespace {

// This transaction changed a configuration table (or a subtransaction of
// it did: one rolled back only costs the backends a reload).
bool changed_config = false;
// ... and is counted as committing (count_config_change_committing).
bool counted_committing = false;

// A logical replication apply worker finishing a transaction it applied as
// prepared (a subscription with two_phase) does COMMIT PREPARED's work
// directly, without the statement the utility hook counts, in a
// transaction of its own that has no transaction id.  Its commit record
// makes it one that wrote WAL without an id; any other of the worker's
// that did (a page pruned while reading) only costs the backends a reload.
bool applies_commit_prepared()
{
    return IsLogicalWorker() && !TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
           XactLastRecEnd != InvalidXLogRecPtr;
}

void on_transaction_event(XactEvent event, void*)
{
    using namespace zechat::billing::pg;
    // Counted as committed when it ends: its changes are visible already,
    // and its messages sent, but the worker takes them (and so makes
    // shared terms out of date, shared_hints.hpp) only when it next looks,
    // up to a second later when idle; otherwise backends started meanwhile
    // would take the terms it replaced.
    if (event == XACT_EVENT_PRE_COMMIT && !changed_config && applies_commit_prepared())
        changed_config = true;
    if (!changed_config)
        return;
    if (event == XACT_EVENT_PRE_COMMIT && !counted_committing) {
        count_config_change_committing(true);
        counted_committing = true;
    }
    if (event == XACT_EVENT_COMMIT)
        count_config_change_committed();
    // A prepared change is made visible by COMMIT PREPARED, which runs no
    // callback: see config_utility_counted.
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE) {
        if (counted_committing)
            count_config_change_committing(false);
        counted_committing = false;
        changed_config = false;
    }
}

ProcessUtility_hook_type previous_utility_hook = nullptr;

// ALTER TABLE (or ALTER of another kind of relation) naming one of the
// configuration tables; looked up without a lock, which the statement
// takes itself: a name that moves meanwhile only costs backends a reload.
bool alters_config_table(Node* utility)
{
    if (!IsA(utility, AlterTableStmt))
        return false;
    RangeVar* relation = castNode(AlterTableStmt, utility)->relation;
    if (relation == nullptr)
        return false;
    Oid relid = RangeVarGetRelid(relation, NoLock, true);
    return OidIsValid(relid) && zechat::billing::pg::names_billing_config_table(relid);
}

// The statements that change configuration without the trigger.  ALTER
// TABLE of a configuration table marks its transaction, which the
// transaction callback then counts.  COMMIT PREPARED makes the prepared
// transaction's changes visible: counted as a configuration change
// committing while it runs and as committed once it did (a change of none
// only costs the backends a reload of terms).
void config_utility_counted(PlannedStmt* statement, const char* query_string, bool read_only_tree,
                            ProcessUtilityContext context, ParamListInfo params,
                            QueryEnvironment* environment, DestReceiver* destination,
                            QueryCompletion* completion)
{
    using namespace zechat::billing::pg;
    Node* utility = statement->utilityStmt;
    if (alters_config_table(utility))
        changed_config = true;
    bool commits_prepared = IsA(utility, TransactionStmt) &&
                            castNode(TransactionStmt, utility)->kind == TRANS_STMT_COMMIT_PREPARED;
    if (!commits_prepared) {
        run_next_utility(previous_utility_hook, statement, query_string, read_only_tree, context,
                         params, environment, destination, completion);
        return;
    }
    count_config_change_committing(true);
    PG_TRY();
    {
        run_next_utility(previous_utility_hook, statement, query_string, read_only_tree, context,
                         params, environment, destination, completion);
        count_config_change_committed();
    }
    PG_FINALLY();
    {
        count_config_change_committing(false);
    }
    PG_END_TRY();
}

Datum config_changed_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._config_changed() must be called as a trigger")));
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    // Not the changed table's own invalidation: that would also make every
    // backend plan again each saved query that reads the table (a row
    // change does not need it), and the caches kept against the catalog
    // (own_usage_part.cpp) start over.  1.0's objects have no
    // _config_changes: the table's, as 1.0 did.
    Oid config_changes = zechat::billing::pg::billing_config_changes_relation();
    if (OidIsValid(config_changes))
        CacheInvalidateRelcacheByRelid(config_changes);
    else
        CacheInvalidateRelcache(data->tg_relation);
    changed_config = true;
    return (Datum)0;
}

} // namespace

namespace zechat::billing::pg {

void register_config_change_callback()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = config_utility_counted;
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_config_changed, config_changed_body)
}
