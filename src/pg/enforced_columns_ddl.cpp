// The event trigger behind billing._enforced_columns_ddl(), fired at the end
// of every ALTER TABLE and ALTER TYPE (acting on those that can affect an
// enforcement), and at the start of every ALTER TABLE that retypes a
// column: the parse tree names the table altered (or the composite type,
// whose tables ALTER TYPE ... CASCADE alters) and, for RENAME COLUMN or
// ATTRIBUTE, the old name, and for ATTACH and DETACH PARTITION the
// partition, which nothing else at ddl_command_end gives.  What to do with
// them is SQL (billing._enforced_columns_altered, in
// src/sql/062_enforced_columns_ddl.sql; billing._partition_attached, in
// src/sql/064_partitioned_gauges.sql).
#include <cstring>

#include "billing_catalog.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "access/xact.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace {

// A worker is found next to the event trigger's own function, by the
// catalog cache (no schema search, no USAGE check), and called directly,
// not through SQL: that skips the EXECUTE check (workers are not granted to
// PUBLIC, and run as their owner), as trigger functions are called.
void call_worker(Oid own_function, const char* name, int nargs, const Oid* argtypes,
                 const Datum* args)
{
    Oid worker = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
                                 PointerGetDatum(buildoidvector(argtypes, nargs)),
                                 ObjectIdGetDatum(get_func_namespace(own_function)));
    if (!OidIsValid(worker)) {
        // The event trigger's own function gone too: this statement waited
        // (for the table it alters) while another transaction dropped the
        // extension, and the event trigger fired as it stood before.
        if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(own_function)))
            zechat::billing::pg::raise_extension_dropped_meanwhile(
                psprintf("function billing.%s", name));
        elog(ERROR, "zechat_billing: function %s is missing", name);
    }

    FmgrInfo flinfo;
    fmgr_info(worker, &flinfo);
    LOCAL_FCINFO(call, FUNC_MAX_ARGS);
    InitFunctionCallInfoData(*call, &flinfo, nargs, InvalidOid, nullptr, nullptr);
    for (int i = 0; i < nargs; ++i) {
        call->args[i].value = args[i];
        call->args[i].isnull = false;
    }
    (void)FunctionCallInvoke(call);
}

void call_columns_altered(Oid own_function, Oid relid, const char* old_name, const char* new_name)
{
    Oid argtypes[3] = {REGCLASSOID, TEXTOID, TEXTOID};
    Datum args[3] = {ObjectIdGetDatum(relid), CStringGetTextDatum(old_name),
                     CStringGetTextDatum(new_name)};
    call_worker(own_function, "_enforced_columns_altered", 3, argtypes, args);
}

// Can the subcommand take from an enforcement what it reads: a column (its
// type, its being stored), the table's persistence, a partition?  Others
// (constraints, defaults, owners, triggers...) pass unchecked: pg_restore
// adds the primary keys after the data, and a check of every enforcement
// there failed the restore of a table in a state the checks refuse (one
// enforced under 1.0, say) or named by the OID of a table since dropped.
bool may_affect_enforcement(const AlterTableCmd* command)
{
    switch (command->subtype) {
    case AT_DropColumn:
    case AT_AlterColumnType:
    case AT_DropExpression:
    case AT_SetLogged:
    case AT_SetUnLogged:
    case AT_AttachPartition:
    case AT_DetachPartition:
    case AT_DetachPartitionFinalize:
    case AT_AddInherit:
    case AT_DropInherit:
        return true;
    default:
        return false;
    }
}

bool may_affect_enforcements(const AlterTableStmt* statement)
{
    ListCell* cell;
    foreach (cell, statement->cmds) {
        if (may_affect_enforcement(static_cast<AlterTableCmd*>(lfirst(cell))))
            return true;
    }
    return false;
}

// The extension's own tables stay logged: a crash empties an unlogged table,
// and billing.usage_parts holds all usage (were SET UNLOGGED let through,
// every tenant's usage would be gone after a crash).
void refuse_unlogged_billing_table(Oid own_function, const AlterTableStmt* statement)
{
    ListCell* cell;
    foreach (cell, statement->cmds) {
        if (static_cast<AlterTableCmd*>(lfirst(cell))->subtype != AT_SetUnLogged)
            continue;
        Oid extension = getExtensionOfObject(ProcedureRelationId, own_function);
        Oid relid = RangeVarGetRelid(statement->relation, NoLock, true);
        if (OidIsValid(extension) && OidIsValid(relid) &&
            getExtensionOfObject(RelationRelationId, relid) == extension)
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("table \"%s\" of zechat_billing cannot be unlogged",
                            get_rel_name(relid)),
                     errdetail("A crash empties an unlogged table, and what it holds of usage "
                               "or configuration with it.")));
        return;
    }
}

// ATTACH and DETACH PARTITION among the table's subcommands: a partition
// joining or leaving an enforced partitioned table
// (billing._partition_attached, 064_partitioned_gauges.sql).
void call_partitions_attached(Oid own_function, const AlterTableStmt* statement)
{
    ListCell* cell;
    foreach (cell, statement->cmds) {
        auto* command = static_cast<AlterTableCmd*>(lfirst(cell));
        bool attached = command->subtype == AT_AttachPartition;
        if (!attached && command->subtype != AT_DetachPartition &&
            command->subtype != AT_DetachPartitionFinalize)
            continue;
        Oid partition = RangeVarGetRelid(castNode(PartitionCmd, command->def)->name, NoLock, true);
        if (!OidIsValid(partition))
            continue;
        Oid argtypes[2] = {REGCLASSOID, BOOLOID};
        Datum args[2] = {ObjectIdGetDatum(partition), BoolGetDatum(attached)};
        call_worker(own_function, "_partition_attached", 2, argtypes, args);
    }
}

// The columns the statement retypes (ALTER COLUMN ... TYPE), as a text[],
// or 0 when it retypes none.
Datum retyped_columns(const AlterTableStmt* statement)
{
    int count = 0;
    Datum* names = static_cast<Datum*>(palloc(sizeof(Datum) * list_length(statement->cmds)));
    ListCell* cell;
    foreach (cell, statement->cmds) {
        auto* command = static_cast<AlterTableCmd*>(lfirst(cell));
        if (command->subtype == AT_AlterColumnType && command->name != nullptr)
            names[count++] = CStringGetTextDatum(command->name);
    }
    if (count == 0)
        return static_cast<Datum>(0);
    return PointerGetDatum(construct_array(names, count, TEXTOID, -1, false, TYPALIGN_INT));
}

// billing._retyped_gauges: -1 before the statement, +1 after it.
void call_retyped_gauges(Oid own_function, Oid relid, Datum columns, int sign)
{
    Oid argtypes[3] = {REGCLASSOID, TEXTARRAYOID, INT4OID};
    Datum args[3] = {ObjectIdGetDatum(relid), columns, Int32GetDatum(sign)};
    call_worker(own_function, "_retyped_gauges", 3, argtypes, args);
}

// Whether a retype of relid has its gauges counted again (the same answer
// at both ends of the statement): only tables can be enforced; a system
// catalog, a view or the like is left to ALTER TABLE, which refuses it at
// once (locking it first would wait for its readers).
bool retype_counted(Oid relid)
{
    char kind = get_rel_relkind(relid);
    return !IsCatalogRelationOid(relid) &&
           (kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE);
}

// The tables of a composite type (CREATE TABLE ... OF type): ALTER TYPE ...
// CASCADE renames, drops and retypes their columns as it does the type's
// attributes.  Without CASCADE it refuses a type that has any, so those
// found at the end of such a statement are the ones it changed.  Only tables
// can be enforced; pg_class has no index on reloftype, and ALTER TYPE scans
// it the same way.
List* typed_tables_of(Oid composite_relid)
{
    Oid type = get_rel_type_id(composite_relid);
    List* tables = NIL;
    if (!OidIsValid(type))
        return tables;
    Relation classes = table_open(RelationRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_class_reloftype, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(type));
    SysScanDesc scan = systable_beginscan(classes, InvalidOid, false, nullptr, 1, &key);
    HeapTuple tuple;
    while ((tuple = systable_getnext(scan)) != nullptr) {
        auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
        if (form->relkind == RELKIND_RELATION || form->relkind == RELKIND_PARTITIONED_TABLE)
            tables = lappend_oid(tables, form->oid);
    }
    systable_endscan(scan);
    table_close(classes, AccessShareLock);
    return tables;
}

// Retypes whose gauges gave back what the rows hold at ddl_command_start,
// and which the end of the same statement counts again: the end counts the
// table the start gave back for, not one found again by name (a function
// of the statement, in USING, can change search_path meanwhile, and by name
// the end would count again whatever table the name then found, any role's,
// as the extension owner: each ALTER would add a table's rows again).
// Statements nest (a USING function may alter a table), hence a stack; an
// entry whose statement failed is dropped once its (sub)transaction is
// gone.  Plain data in static storage, untouched by errors.
struct RetypeInFlight {
    const Node* tree; // the statement's parse tree, the same at both ends
    Oid relid;
    LocalTransactionId transaction;
    SubTransactionId subtransaction;
};
constexpr int max_retypes_in_flight = 32;
RetypeInFlight retypes_in_flight[max_retypes_in_flight];
int retype_count = 0;

void forget_failed_retypes()
{
    int kept = 0;
    for (int i = 0; i < retype_count; ++i) {
        const RetypeInFlight& retype = retypes_in_flight[i];
        if (retype.transaction == MyProc->lxid && SubTransactionIsActive(retype.subtransaction))
            retypes_in_flight[kept++] = retype;
    }
    retype_count = kept;
}

// The table the start of this statement gave back for, taken off the
// stack; InvalidOid when it gave back nothing.
Oid take_retype_in_flight(const Node* tree)
{
    forget_failed_retypes();
    for (int i = retype_count - 1; i >= 0; --i) {
        if (retypes_in_flight[i].tree != tree)
            continue;
        Oid relid = retypes_in_flight[i].relid;
        retypes_in_flight[i] = retypes_in_flight[--retype_count];
        return relid;
    }
    return InvalidOid;
}

// At ddl_command_start: gauges whose columns the statement retypes give
// back what the rows hold, before their values change.  Not for ALTER TYPE:
// it has no USING, and a cast between the types the triggers read leaves a
// value as it was (or fails).
void before_retype(Oid own_function, Node* tree)
{
    if (!IsA(tree, AlterTableStmt) || castNode(AlterTableStmt, tree)->objtype == OBJECT_TYPE)
        return;
    auto* statement = castNode(AlterTableStmt, tree);
    Datum columns = retyped_columns(statement);
    if (columns == static_cast<Datum>(0))
        return;
    // Not locked yet (below); not there (IF EXISTS): the command itself
    // says so, or does nothing.  Nor is ownership checked yet: a role that
    // may not alter the table must not get it locked and scanned here,
    // with the extension owner's rights, before ALTER TABLE refuses it.
    Oid relid = RangeVarGetRelid(statement->relation, NoLock, true);
    if (!OidIsValid(relid) || !retype_counted(relid) || !pg_class_ownercheck(relid, GetUserId()))
        return;
    // Locked as ALTER TABLE will lock them, the table first, then (unless
    // ONLY) the tables below it: what is counted now cannot change before
    // the change itself (a row written, an enforcement added or removed), so
    // that what the end of the statement counts again is what was taken
    // back here; and locking a partition before its parent would turn a
    // writer's wait into a deadlock.
    LockRelationOid(relid, AccessExclusiveLock);
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
        return; // dropped while this waited: ALTER TABLE says so
    if (statement->relation->inh)
        (void)find_all_inheritors(relid, AccessExclusiveLock, nullptr);
    forget_failed_retypes();
    if (retype_count == max_retypes_in_flight)
        ereport(ERROR,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                 errmsg("too many nested ALTER TABLE statements retype columns"),
                 errdetail("At most %d can be in progress at once.", max_retypes_in_flight)));
    call_retyped_gauges(own_function, relid, columns, -1);
    retypes_in_flight[retype_count++] = {tree, relid, MyProc->lxid, GetCurrentSubTransactionId()};
}

Datum enforced_columns_ddl_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._enforced_columns_ddl() must be called as an event "
                               "trigger")));
    auto* event = reinterpret_cast<EventTriggerData*>(fcinfo->context);
    Node* tree = event->parsetree;
    if (std::strcmp(event->event, "ddl_command_start") == 0) {
        before_retype(fcinfo->flinfo->fn_oid, tree);
        PG_RETURN_VOID();
    }

    RangeVar* relation = nullptr;
    ObjectType object_type = OBJECT_TABLE;
    const char* old_name = "";
    const char* new_name = "";
    if (IsA(tree, AlterTableStmt)) {
        refuse_unlogged_billing_table(fcinfo->flinfo->fn_oid, castNode(AlterTableStmt, tree));
        if (!may_affect_enforcements(castNode(AlterTableStmt, tree)))
            PG_RETURN_VOID();
        relation = castNode(AlterTableStmt, tree)->relation;
        object_type = castNode(AlterTableStmt, tree)->objtype;
    } else if (IsA(tree, RenameStmt)) {
        auto* rename = castNode(RenameStmt, tree);
        // A column, or an attribute of a composite type (its tables' columns
        // with it); the table itself or a constraint: columns keep their names.
        if (rename->renameType != OBJECT_COLUMN && rename->renameType != OBJECT_ATTRIBUTE)
            PG_RETURN_VOID();
        relation = rename->relation;
        object_type = rename->relationType;
        old_name = rename->subname;
        new_name = rename->newname;
    }
    if (relation == nullptr)
        PG_RETURN_VOID();
    // A retype: the table the start of the statement gave back for, whoever
    // the role is now (a USING function may switch it, an OWNER TO in the
    // same statement change the owner).  Otherwise found by name again, as
    // locked by the command; gone or never there (IF EXISTS): nothing to
    // do.  What is done then for a table the name finds only since a
    // function of the statement changed search_path is checking its
    // enforced columns, or taking it for attached where it is already
    // counted, which changes nothing.
    Oid retyped = IsA(tree, AlterTableStmt) ? take_retype_in_flight(tree) : InvalidOid;
    Oid relid = OidIsValid(retyped) ? retyped : RangeVarGetRelid(relation, NoLock, true);
    if (!OidIsValid(relid))
        PG_RETURN_VOID();
    if (object_type == OBJECT_TYPE) {
        ListCell* cell;
        foreach (cell, typed_tables_of(relid))
            call_columns_altered(fcinfo->flinfo->fn_oid, lfirst_oid(cell), old_name, new_name);
        PG_RETURN_VOID();
    }
    call_columns_altered(fcinfo->flinfo->fn_oid, relid, old_name, new_name);
    if (IsA(tree, AlterTableStmt)) {
        call_partitions_attached(fcinfo->flinfo->fn_oid, castNode(AlterTableStmt, tree));
        // What the rows hold now, counted again (before_retype took it back).
        if (OidIsValid(retyped))
            call_retyped_gauges(fcinfo->flinfo->fn_oid, retyped,
                                retyped_columns(castNode(AlterTableStmt, tree)), 1);
    }
    PG_RETURN_VOID();
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_enforced_columns_ddl, enforced_columns_ddl_body)
}
