#include <cstring>

#include "trigger_layout.hpp"

#include "backend_hash.hpp"
#include "column_access.hpp"
#include "enforced_values.hpp"
#include "insert_confirmation.hpp"
#include "partition_moves.hpp"
#include "skippable_updates.hpp"

extern "C" {
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

using namespace zechat::billing::pg;

namespace {

// How the name of the trigger that marks rows an UPDATE moves to another
// partition ends: billing.enforce_quota names it 'zzz_billing_' ||
// p_resource || '_moved' (src/sql/060_enforcement.sql).
constexpr char moved_trigger_suffix[] = "_moved";
constexpr size_t moved_trigger_suffix_length = sizeof moved_trigger_suffix - 1;

// The attribute number of the column a trigger argument names, refused
// when the column cannot be enforced.
AttrNumber trigger_column_attnum(Relation rel, const char* column)
{
    AttrNumber number = column_by_name(rel, column);
    if (number == InvalidAttrNumber)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("column \"%s\" of \"%s\" used by a billing trigger does not exist",
                               column, RelationGetRelationName(rel))));
    // enforce_quota refuses these too; this catches a column dropped and
    // added again as generated.  A BEFORE trigger sees it as NULL.
    if (TupleDescAttr(RelationGetDescr(rel), number - 1)->attgenerated != '\0')
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("column \"%s\" of \"%s\" used by a billing trigger is a generated column",
                        column, RelationGetRelationName(rel)),
                 errdetail("Enforcement triggers run before generated columns are computed."),
                 errhint("Unenforce the resource and enforce it on a plain column.")));
    return number;
}

void resolve_layout(TriggerData* data, TriggerLayout* layout)
{
    Relation rel = data->tg_relation;
    Trigger* trigger = data->tg_trigger;
    if (trigger->tgnargs != 3)
        bad_trigger_setup(rel, "expected 3 arguments (resource, tenant column, amount column)");
    if (std::strlen(trigger->tgargs[0]) >= sizeof layout->resource)
        bad_trigger_setup(rel, "resource name too long");

    TupleDesc desc = RelationGetDescr(rel);
    layout->relid = RelationGetRelid(rel);
    std::strcpy(layout->resource, trigger->tgargs[0]);
    layout->tenant_attnum = trigger_column_attnum(rel, trigger->tgargs[1]);
    // A domain's values are its base type's: read as that.
    layout->tenant_type = getBaseType(TupleDescAttr(desc, layout->tenant_attnum - 1)->atttypid);
    if (!tenant_type_accepted(layout->tenant_type))
        bad_trigger_setup(rel, "tenant column must be text, varchar, uuid, bigint or integer");
    layout->amount_attnum = InvalidAttrNumber;
    layout->amount_type = InvalidOid;
    if (trigger->tgargs[2][0] != '\0') {
        layout->amount_attnum = trigger_column_attnum(rel, trigger->tgargs[2]);
        layout->amount_type = getBaseType(TupleDescAttr(desc, layout->amount_attnum - 1)->atttypid);
        if (!amount_type_accepted(layout->amount_type))
            bad_trigger_setup(rel, "amount column must be smallint, integer or bigint");
    }
}

} // namespace

namespace zechat::billing::pg {

HTAB* trigger_layouts = nullptr;

[[noreturn]] void bad_trigger_setup(Relation rel, const char* message)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                    errmsg("billing trigger on \"%s\": %s", RelationGetRelationName(rel), message),
                    errhint("Install it with billing.enforce_quota().")));
    pg_unreachable();
}

TriggerLayout cache_trigger_layout(TriggerData* data)
{
    if (trigger_layouts == nullptr) {
        trigger_layouts = create_backend_hash("zechat_billing trigger layouts", 32, sizeof(Oid),
                                              sizeof(TriggerLayout), CacheMemoryContext);
    }
    Oid trigger_oid = data->tg_trigger->tgoid;
    bool found;
    // Resolve into a local first so an error leaves no half-filled entry.
    TriggerLayout resolved;
    std::memset(&resolved, 0, sizeof resolved);
    resolved.trigger_oid = trigger_oid;
    resolve_layout(data, &resolved);
    if (TRIGGER_FIRED_BY_INSERT(data->tg_event) && TRIGGER_FIRED_BEFORE(data->tg_event))
        resolved.confirmation_enabled =
            confirmation_trigger_enabled(data->tg_relation, data->tg_trigger);
    if (resolved.confirmation_enabled != '\0')
        resolved.confirmation_table = confirmation_table_of(data->tg_relation);
    const char* name = data->tg_trigger->tgname;
    size_t length = std::strlen(name);
    resolved.marks_moves =
        length > moved_trigger_suffix_length &&
        std::strcmp(name + length - moved_trigger_suffix_length, moved_trigger_suffix) == 0;
    if (TRIGGER_FIRED_BY_UPDATE(data->tg_event) && TRIGGER_FIRED_BEFORE(data->tg_event)) {
        resolved.update_skippable = update_skippable_after(data->tg_relation, data->tg_trigger);
        if (data->tg_relation->rd_rel->relispartition)
            resolved.enforced_table = trigger_origin_table(trigger_oid);
    }
    auto* entry =
        static_cast<TriggerLayout*>(hash_search(trigger_layouts, &trigger_oid, HASH_ENTER, &found));
    *entry = resolved;
    return resolved;
}

void invalidate_trigger_layouts(Oid relid)
{
    if (trigger_layouts == nullptr)
        return;
    // Removed, not marked stale: the triggers of dropped tables and
    // partitions, and of enforcements undone, would otherwise stay for the
    // backend's life (growth without bound over partitions created and
    // dropped).  Dynahash allows removing the entry a scan has just
    // returned.
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, trigger_layouts);
    while (auto* entry = static_cast<TriggerLayout*>(hash_seq_search(&status)))
        if (!OidIsValid(relid) || entry->relid == relid)
            (void)hash_search(trigger_layouts, &entry->trigger_oid, HASH_REMOVE, nullptr);
}

} // namespace zechat::billing::pg
