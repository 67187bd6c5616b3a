// The event trigger behind billing._enforced_columns_ddl(), fired at the end
// of every ALTER TABLE: the parse tree names the table altered and, for
// RENAME COLUMN, the old name, which nothing else at ddl_command_end gives.
// What to do with them is SQL (billing._enforced_columns_altered, in
// src/sql/062_enforced_columns_ddl.sql).
#include "pg_boundary.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace {

// The function is found next to the event trigger's own, by the catalog
// cache (no schema search, no USAGE check), and called directly, not
// through SQL: that skips the EXECUTE check (it is not granted to PUBLIC,
// and runs as its owner), as trigger functions are called.
void call_columns_altered(Oid own_function, Oid relid, const char* old_name, const char* new_name)
{
    Oid argtypes[3] = {REGCLASSOID, TEXTOID, TEXTOID};
    Oid worker = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
                                 CStringGetDatum("_enforced_columns_altered"),
                                 PointerGetDatum(buildoidvector(argtypes, 3)),
                                 ObjectIdGetDatum(get_func_namespace(own_function)));
    if (!OidIsValid(worker))
        elog(ERROR, "zechat_billing: function _enforced_columns_altered(regclass, text, text) "
                    "is missing");

    FmgrInfo flinfo;
    fmgr_info(worker, &flinfo);
    LOCAL_FCINFO(call, 3);
    InitFunctionCallInfoData(*call, &flinfo, 3, InvalidOid, nullptr, nullptr);
    call->args[0].value = ObjectIdGetDatum(relid);
    call->args[0].isnull = false;
    call->args[1].value = CStringGetTextDatum(old_name);
    call->args[1].isnull = false;
    call->args[2].value = CStringGetTextDatum(new_name);
    call->args[2].isnull = false;
    (void)FunctionCallInvoke(call);
}

Datum enforced_columns_ddl_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._enforced_columns_ddl() must be called as an event "
                               "trigger")));
    Node* tree = reinterpret_cast<EventTriggerData*>(fcinfo->context)->parsetree;

    RangeVar* relation = nullptr;
    const char* old_name = "";
    const char* new_name = "";
    if (IsA(tree, AlterTableStmt)) {
        relation = castNode(AlterTableStmt, tree)->relation;
    } else if (IsA(tree, RenameStmt)) {
        auto* rename = castNode(RenameStmt, tree);
        if (rename->renameType != OBJECT_COLUMN)
            PG_RETURN_VOID(); // the table or a constraint: columns keep their names
        relation = rename->relation;
        old_name = rename->subname;
        new_name = rename->newname;
    }
    if (relation == nullptr)
        PG_RETURN_VOID();
    // Locked by the command; gone or never there (IF EXISTS): nothing to do.
    Oid relid = RangeVarGetRelid(relation, NoLock, true);
    if (!OidIsValid(relid))
        PG_RETURN_VOID();
    call_columns_altered(fcinfo->flinfo->fn_oid, relid, old_name, new_name);
    PG_RETURN_VOID();
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_enforced_columns_ddl, enforced_columns_ddl_body)
}
