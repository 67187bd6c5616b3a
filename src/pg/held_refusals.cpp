#include <cstring>

#include "held_refusals.hpp"

#include "../core/tenant_key.hpp"

#include "growing_array.hpp"
#include "insert_confirmation.hpp"
#include "statement_nesting.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rls.h"
}

namespace zechat::billing::pg {

namespace {

struct HeldRefusal {
    Oid table; // confirmation_table_of() the row's table
    int level; // statement_nesting_level() of the statement writing the row
    SubTransactionId subxact;
    int64 amount;
    DescribedRefusal refusal;
    int tenant_id_length;
    int resource_length;
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
};

// In TopMemoryContext; rarely more than one entry: the next row raises it.
HeldRefusal* held = nullptr;
int held_count = 0;
int held_capacity = 0;

bool row_security_applies_to(Oid relid);

// Whether row-level security applies to the current user on a table rel's
// rows may be written through: an INSERT into a partitioned table checks
// its policies, not the partition's, and an UPDATE through an inheritance
// parent the parent's.  (pg_inherits read by hand: get_partition_ancestors
// knows partitions only, and only a first parent.)
bool row_security_applies_above(Oid relid)
{
    Relation inherits = table_open(InheritsRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(relid));
    SysScanDesc scan =
        systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, nullptr, 1, &key);
    List* parents = NIL;
    while (HeapTuple tuple = systable_getnext(scan))
        parents =
            lappend_oid(parents, reinterpret_cast<Form_pg_inherits>(GETSTRUCT(tuple))->inhparent);
    systable_endscan(scan);
    table_close(inherits, AccessShareLock);
    bool applies = false;
    for (int i = 0; i < list_length(parents) && !applies; ++i)
        applies = row_security_applies_to(list_nth_oid(parents, i));
    list_free(parents);
    return applies;
}

// As the executor decides for the current user (RLS_NONE_ENV: the owner
// without FORCE ROW LEVEL SECURITY, a role with BYPASSRLS).
bool row_security_applies_to(Oid relid)
{
    return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED ||
           row_security_applies_above(relid);
}

// Raised with the entry still held: should the error be caught in a
// subtransaction younger than the entry's, it is raised again later (at
// the latest before commit), never lost.  The entry goes with the abort of
// its own subtransaction.
[[noreturn]] void raise_held(int i)
{
    HeldRefusal refusal = held[i]; // the array is not to be read while reporting
    QuotaKey key{refusal.tenant_id, refusal.tenant_id_length, refusal.resource,
                 refusal.resource_length};
    raise_refusal(key, refusal.amount, refusal.refusal);
}

bool same_resource(const HeldRefusal& refusal, const char* resource)
{
    size_t length = std::strlen(resource);
    return static_cast<size_t>(refusal.resource_length) == length &&
           std::memcmp(refusal.resource, resource, length) == 0;
}

void on_transaction_event(XactEvent event, void*)
{
    if (held_count == 0)
        return;
    // Before commit or PREPARE, still inside the transaction: the error
    // aborts it.  (Only a statement whose end was not seen leaves one.)
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
        raise_held(0);
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
        held_count = 0;
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
        return;
    for (int i = 0; i < held_count;) {
        if (held[i].subxact != subxact) {
            ++i;
        } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
            held[i++].subxact = parent;
        } else {
            --held_count;
            std::memmove(&held[i], &held[i + 1],
                         sizeof(HeldRefusal) * static_cast<Size>(held_count - i));
        }
    }
}

} // namespace

void raise_or_hold_refusal(Relation rel, const QuotaKey& key, int64 amount,
                           const DescribedRefusal& refusal)
{
    if (!row_security_applies_to(RelationGetRelid(rel)))
        raise_refusal(key, amount, refusal);
    Oid table = confirmation_table_of(rel);
    make_room_for_item(&held, held_count, &held_capacity, 4, TopMemoryContext);
    HeldRefusal& entry = held[held_count];
    entry.table = table;
    entry.level = statement_nesting_level();
    entry.subxact = GetCurrentSubTransactionId();
    entry.amount = amount;
    entry.refusal = refusal;
    // Keys are validated (make_quota_key): each fits its field.
    entry.tenant_id_length = key.tenant_id_length;
    std::memcpy(entry.tenant_id, key.tenant_id, static_cast<size_t>(key.tenant_id_length));
    entry.tenant_id[key.tenant_id_length] = '\0';
    entry.resource_length = key.resource_length;
    std::memcpy(entry.resource, key.resource, static_cast<size_t>(key.resource_length));
    entry.resource[key.resource_length] = '\0';
    ++held_count;
}

void raise_refusals_held_before_row(Relation rel, const char* resource)
{
    if (held_count == 0) // every row comes here: stay cheap
        return;
    // Rows of statements nested deeper have ended (their refusals were
    // raised then, or went with a rollback); those counted at a shallower
    // level are still on their way: this runs inside their triggers, or
    // functions of their CHECK constraints or policies.
    int level = statement_nesting_level();
    Oid table = confirmation_table_of(rel);
    for (int i = 0; i < held_count; ++i) {
        const HeldRefusal& refusal = held[i];
        if (refusal.level > level || (refusal.level == level &&
                                      (refusal.table != table || same_resource(refusal, resource))))
            raise_held(i);
    }
}

void raise_refusals_held_deeper_than(int level)
{
    for (int i = 0; i < held_count; ++i)
        if (held[i].level > level)
            raise_held(i);
}

void register_held_refusal_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg
