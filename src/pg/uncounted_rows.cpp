#include <climits>
#include <cstring>

#include "uncounted_rows.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "growing_array.hpp"
#include "row_replacement.hpp"
#include "sort_orders.hpp"
#include "statement_nesting.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// A tenant credited in this transaction, kept once however many of its
// rows are (a credit is a row's; a statement may delete millions).  The sum
// is that of the statement count_statement() last summed.
struct CreditedTenant {
    char tenant_id[tenant_id_field_bytes]; // hash key
    int64 sum;
    int64 skipped;    // what skipped updates consumed for it
    uint64 summed_in; // the summing the sums are of
};

// One row's give-back kept for its statement, with the change that made
// it: the delete or update is taken as done only if the row's version is
// still replaced by exactly that change (not by a later one, after it was
// rolled back to a savepoint or skipped by another BEFORE trigger).
struct Credit {
    ItemPointerData row;
    bool updated; // by an update (else a delete)
    TransactionId changed_by;
    CommandId changed_in;
    CreditedTenant* tenant;
    int64 amount;
    // An update's: what it consumed for the row's new version, given back
    // should the update turn out skipped.
    CreditedTenant* consumed_for;
    int64 consumed;
};
static_assert(sizeof(Credit) == 48, "a row's credit stays small: a statement may make millions");

} // namespace

namespace zechat::billing::pg {

// The rows of one statement in one table for one resource.
struct StatementCredits {
    CommandId cid;
    Oid relid;
    char resource[resource_field_bytes];
    bool counted;             // its statement trigger has counted it
    uint64 summed;            // the summing of its credits (count_statement)
    CreditedTenant** skipped; // tenants of that summing with skipped > 0, in its caller's memory
    int skipped_count;
    Credit* credits;
    int count;
    int room;
};

} // namespace zechat::billing::pg

namespace {

// In TopTransactionContext; nothing outside a transaction that made them.
StatementCredits* statements = nullptr;
int statement_count = 0;
int statement_room = 0;
HTAB* tenants = nullptr;
uint64 summings = 0;

bool is_statement(const StatementCredits& entry, CommandId cid, Oid relid, const char* resource)
{
    return entry.cid == cid && entry.relid == relid && std::strcmp(entry.resource, resource) == 0;
}

StatementCredits* find_statement(CommandId cid, Oid relid, const char* resource)
{
    for (int i = 0; i < statement_count; ++i)
        if (is_statement(statements[i], cid, relid, resource))
            return &statements[i];
    return nullptr;
}

// A command id is not used again within a transaction: the entry of a
// statement no longer running can never be matched again, and goes (with
// its credits, those of a statement that failed).
void forget_finished_statements()
{
    int kept = 0;
    for (int i = 0; i < statement_count; ++i) {
        if (written_by_running_statement(statements[i].cid, INT_MAX)) {
            statements[kept++] = statements[i];
            continue;
        }
        if (statements[i].credits != nullptr)
            pfree(statements[i].credits);
    }
    statement_count = kept;
}

StatementCredits* add_statement(CommandId cid, Oid relid, const char* resource)
{
    forget_finished_statements();
    make_room_for_item(&statements, statement_count, &statement_room, 8, TopTransactionContext);
    StatementCredits* entry = &statements[statement_count++];
    std::memset(entry, 0, sizeof *entry);
    entry->cid = cid;
    entry->relid = relid;
    strlcpy(entry->resource, resource, sizeof entry->resource);
    return entry;
}

CreditedTenant* credited_tenant(const char* tenant_id)
{
    if (tenants == nullptr)
        tenants = create_backend_hash("zechat_billing credited tenants", 16,
                                      sizeof(CreditedTenant::tenant_id), sizeof(CreditedTenant),
                                      TopTransactionContext);
    char key[sizeof(CreditedTenant::tenant_id)] = {};
    strlcpy(key, tenant_id, sizeof key);
    bool found;
    auto* tenant = static_cast<CreditedTenant*>(hash_search(tenants, key, HASH_ENTER, &found));
    if (!found) {
        tenant->sum = 0;
        tenant->skipped = 0;
        tenant->summed_in = 0;
    }
    return tenant;
}

void add_credit(StatementCredits* entry, const Credit& credit)
{
    make_room_for_item(&entry->credits, entry->count, &entry->room, 16, TopTransactionContext,
                       true);
    entry->credits[entry->count++] = credit;
}

bool has_statement_trigger(Relation rel, Oid trigger_function, const char* resource)
{
    TriggerDesc* triggers = rel->trigdesc;
    if (triggers == nullptr)
        return false;
    for (int i = 0; i < triggers->numtriggers; ++i) {
        const Trigger& trigger = triggers->triggers[i];
        if (trigger.tgfoid == trigger_function && TRIGGER_FOR_INSERT(trigger.tgtype) &&
            !TRIGGER_FOR_ROW(trigger.tgtype) && TRIGGER_FOR_AFTER(trigger.tgtype) &&
            trigger.tgnargs > 0 && std::strcmp(trigger.tgargs[0], resource) == 0)
            return true;
    }
    return false;
}

// The command id of the statement that wrote `row` as a new row in this
// transaction; InvalidCommandId for any other row (committed before, the
// new version of an UPDATE).
CommandId inserting_cid(HeapTuple row)
{
    HeapTupleHeader header = row->t_data;
    if ((header->t_infomask & HEAP_UPDATED) != 0 ||
        !TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(header)))
        return InvalidCommandId;
    if (!HeapTupleHeaderXminFrozen(header))
        return HeapTupleHeaderGetCmin(header);
    // COPY FREEZE writes its rows frozen, with this transaction's xid and
    // the command id still there: read as if not frozen.  (A delete or an
    // update writes its own command id over it, with no combo id, as for
    // any row whose insert is known committed: the old version a DELETE
    // trigger sees is no longer traced.)
    HeapTupleHeaderData unfrozen = *header;
    unfrozen.t_infomask &= ~HEAP_XMIN_FROZEN;
    return HeapTupleHeaderGetCmin(&unfrozen);
}

// The credited change is the one that replaced the row's version: the same
// (sub)transaction and command, and the same kind of change, so that an
// update skipped by another trigger is not taken for done when the same
// command then deletes the row.
bool change_done(Relation rel, const Credit& credit)
{
    ItemPointerData row = credit.row;
    return replaced_by_change(rel, &row, credit.changed_by, credit.changed_in, credit.updated);
}

// The tenant's sums, reset for a new summing.
CreditedTenant* summed_tenant(CreditedTenant* tenant, uint64 summing)
{
    if (tenant->summed_in != summing) {
        tenant->summed_in = summing;
        tenant->sum = 0;
        tenant->skipped = 0;
    }
    return tenant;
}

// Sums the credits of `entry` per tenant: those whose change was done, and
// what skipped updates consumed.
void sum_credits(Relation rel, StatementCredits* entry)
{
    uint64 summing = ++summings;
    entry->summed = summing;
    entry->skipped = static_cast<CreditedTenant**>(palloc(sizeof(CreditedTenant*) * entry->count));
    entry->skipped_count = 0;
    // The credits of each row version together, each version's in the
    // order they were made.
    int* order = static_cast<int*>(palloc(sizeof(int) * entry->count));
    for (int i = 0; i < entry->count; ++i)
        order[i] = i;
    sort_by_row_then_order<Credit, &Credit::row>(order, entry->count, entry->credits);
    bool* done = static_cast<bool*>(palloc(sizeof(bool) * entry->count));
    for (int first = 0; first < entry->count;) {
        const ItemPointerData& row = entry->credits[order[first]].row;
        int end = first;
        int taken = -1;
        for (; end < entry->count &&
               ItemPointerEquals(const_cast<ItemPointer>(&entry->credits[order[end]].row),
                                 const_cast<ItemPointer>(&row));
             ++end) {
            done[end] = change_done(rel, entry->credits[order[end]]);
            if (done[end])
                taken = end;
        }
        // A version is replaced once.  Several credits can match that
        // change when one command reached the row more than once (a join):
        // the last made is the one done, as an update done makes later
        // attempts of its command at the row skip its triggers.
        for (int k = first; k < end; ++k) {
            const Credit& credit = entry->credits[order[k]];
            if (k == taken) {
                // A row's amount, counted in the statement's sum for the
                // tenant: the credits' sum is no more than that sum.
                summed_tenant(credit.tenant, summing)->sum += credit.amount;
                continue;
            }
            // Not done, and not rolled back (that took its consumption
            // along): skipped by a BEFORE UPDATE trigger firing after the
            // billing one.
            if (credit.consumed > 0 && TransactionIdIsCurrentTransactionId(credit.changed_by)) {
                CreditedTenant* tenant = summed_tenant(credit.consumed_for, summing);
                if (tenant->skipped == 0)
                    entry->skipped[entry->skipped_count++] = tenant;
                tenant->skipped += credit.consumed;
            }
        }
        first = end;
    }
    pfree(order);
    pfree(done);
    // Given back in the order of the tenants' ids, as the sums are admitted.
    qsort(entry->skipped, entry->skipped_count, sizeof(CreditedTenant*),
          by_tenant_id<CreditedTenant*>);
}

} // namespace

namespace zechat::billing::pg {

bool written_by_running_statement(HeapTuple row)
{
    return written_by_running_statement(inserting_cid(row), statement_nesting_level());
}

bool credit_if_uncounted(Relation rel, Oid trigger_function, const char* resource, HeapTuple row,
                         const char* tenant, int64 amount, RowChange change,
                         const char* consumed_for, int64 consumed)
{
    CommandId cid = inserting_cid(row);
    if (!written_by_running_statement(cid, statement_nesting_level()))
        return false;
    StatementCredits* entry = find_statement(cid, RelationGetRelid(rel), resource);
    if ((entry != nullptr && entry->counted) ||
        !has_statement_trigger(rel, trigger_function, resource))
        return false;
    Credit credit{};
    if (change == RowChange::deleted) {
        // After the delete: the row's version says which it was.
        if (!replaced_by_us(row->t_data, &credit.changed_by, &credit.changed_in))
            return false;
    } else {
        // Before the update, which the statement running here makes.
        credit.changed_in = statement_writing_cid(statement_nesting_level());
        if (credit.changed_in == InvalidCommandId)
            return false;
        credit.changed_by = GetCurrentTransactionId();
        credit.updated = true;
    }
    if (entry == nullptr)
        entry = add_statement(cid, RelationGetRelid(rel), resource);
    credit.row = row->t_self;
    credit.tenant = credited_tenant(tenant);
    credit.amount = amount;
    if (consumed > 0) {
        credit.consumed_for = credited_tenant(consumed_for);
        credit.consumed = consumed;
    }
    add_credit(entry, credit);
    return true;
}

StatementCredits* count_statement(Relation rel, const char* resource)
{
    CommandId cid = statement_writing_cid(statement_nesting_level());
    if (cid == InvalidCommandId)
        return nullptr;
    StatementCredits* entry = find_statement(cid, RelationGetRelid(rel), resource);
    if (entry == nullptr)
        entry = add_statement(cid, RelationGetRelid(rel), resource);
    entry->counted = true;
    if (entry->count == 0)
        return nullptr;
    sum_credits(rel, entry);
    pfree(entry->credits);
    entry->credits = nullptr;
    entry->count = 0;
    entry->room = 0;
    return entry;
}

int64 credit_of(const StatementCredits* credits, const char* tenant_id)
{
    if (credits == nullptr)
        return 0;
    char key[sizeof(CreditedTenant::tenant_id)] = {};
    strlcpy(key, tenant_id, sizeof key);
    bool found;
    auto* tenant = static_cast<CreditedTenant*>(hash_search(tenants, key, HASH_FIND, &found));
    return tenant != nullptr && tenant->summed_in == credits->summed ? tenant->sum : 0;
}

int skipped_update_count(const StatementCredits* credits)
{
    return credits == nullptr ? 0 : credits->skipped_count;
}

SkippedUpdates skipped_update(const StatementCredits* credits, int i)
{
    const CreditedTenant* tenant = credits->skipped[i];
    return SkippedUpdates{tenant->tenant_id, tenant->skipped};
}

void forget_uncounted_rows()
{
    statements = nullptr;
    statement_count = 0;
    statement_room = 0;
    tenants = nullptr;
}

} // namespace zechat::billing::pg
