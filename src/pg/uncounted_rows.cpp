#include <cstring>

#include "uncounted_rows.hpp"

#include "../core/tenant_key.hpp"

#include "statement_nesting.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// Which statement's rows of which table, for which resource.
struct StatementOfTable {
    CommandId cid;
    Oid relid;
    char resource[48];
};

struct Credit {
    StatementOfTable statement;
    ItemPointerData row;
    char tenant[max_tenant_id_bytes + 1];
    int64 amount;
};

// Arrays in TopTransactionContext, grown by doubling; nullptr outside a
// transaction that made one.
template <typename Item> struct Items {
    Item* items;
    int count;
    int room;
};
Items<Credit> credits;
Items<StatementOfTable> counted;

bool same_statement(const StatementOfTable& a, const StatementOfTable& b)
{
    return a.cid == b.cid && a.relid == b.relid && std::strcmp(a.resource, b.resource) == 0;
}

StatementOfTable statement_of(CommandId cid, Relation rel, const char* resource)
{
    StatementOfTable statement{};
    statement.cid = cid;
    statement.relid = RelationGetRelid(rel);
    strlcpy(statement.resource, resource, sizeof statement.resource);
    return statement;
}

// Entries of statements no longer running can never be matched again (a
// command id is not reused within a transaction): dropped before the array
// grows, which keeps it as small as the statements running need.
template <typename Item, typename StatementOf>
void append(Items<Item>* list, const Item& item, StatementOf statement_of_item)
{
    if (list->count == list->room) {
        int kept = 0;
        for (int i = 0; i < list->count; ++i)
            if (written_by_running_statement(statement_of_item(list->items[i]).cid, INT_MAX))
                list->items[kept++] = list->items[i];
        list->count = kept;
    }
    if (list->count == list->room) {
        int room = list->room == 0 ? 16 : list->room * 2;
        Size bytes = sizeof(Item) * static_cast<Size>(room);
        list->items = static_cast<Item*>(
            list->items == nullptr ? MemoryContextAlloc(TopTransactionContext, bytes)
                                   : repalloc_huge(list->items, bytes));
        list->room = room;
    }
    list->items[list->count++] = item;
}

bool is_counted(const StatementOfTable& statement)
{
    for (int i = 0; i < counted.count; ++i)
        if (same_statement(counted.items[i], statement))
            return true;
    return false;
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
// new version of an UPDATE, frozen by COPY FREEZE).
CommandId inserting_cid(HeapTuple row)
{
    HeapTupleHeader header = row->t_data;
    if ((header->t_infomask & HEAP_UPDATED) != 0 || HeapTupleHeaderXminFrozen(header) ||
        !TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(header)))
        return InvalidCommandId;
    return HeapTupleHeaderGetCmin(header);
}

// The credited row was really deleted or updated: its version there has
// been replaced by this transaction, not by a subtransaction rolled back.
bool row_replaced(Relation rel, ItemPointerData row)
{
    HeapTupleData tuple;
    tuple.t_self = row;
    Buffer buffer;
    if (!heap_fetch(rel, SnapshotAny, &tuple, &buffer, true))
        return false;
    LockBuffer(buffer, BUFFER_LOCK_SHARE);
    HeapTupleHeader header = tuple.t_data;
    bool replaced = (header->t_infomask & HEAP_XMAX_INVALID) == 0 &&
                    !HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask) &&
                    TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(header));
    UnlockReleaseBuffer(buffer);
    return replaced;
}

struct TenantCredit {
    const char* tenant;
    int64 amount;
};

int by_row(const void* a, const void* b)
{
    return ItemPointerCompare(const_cast<ItemPointer>(&static_cast<const Credit*>(a)->row),
                              const_cast<ItemPointer>(&static_cast<const Credit*>(b)->row));
}

int by_tenant(const void* a, const void* b)
{
    return std::strcmp(static_cast<const TenantCredit*>(a)->tenant,
                       static_cast<const TenantCredit*>(b)->tenant);
}

} // namespace

namespace zechat::billing::pg {

struct StatementCredits {
    TenantCredit* tenants; // sorted by tenant, one entry each
    int count;
};

bool credit_if_uncounted(Relation rel, Oid trigger_function, const char* resource, HeapTuple row,
                         const char* tenant, int64 amount)
{
    CommandId cid = inserting_cid(row);
    if (!written_by_running_statement(cid, statement_nesting_level()))
        return false;
    StatementOfTable statement = statement_of(cid, rel, resource);
    if (is_counted(statement) || !has_statement_trigger(rel, trigger_function, resource))
        return false;
    Credit credit{};
    credit.statement = statement;
    credit.row = row->t_self;
    strlcpy(credit.tenant, tenant, sizeof credit.tenant);
    credit.amount = amount;
    append(&credits, credit, [](const Credit& item) { return item.statement; });
    return true;
}

StatementCredits* statement_credits(Relation rel, const char* resource)
{
    if (credits.count == 0)
        return nullptr;
    CommandId cid = statement_writing_cid(statement_nesting_level());
    if (cid == InvalidCommandId)
        return nullptr;
    StatementOfTable statement = statement_of(cid, rel, resource);
    auto* mine = static_cast<Credit*>(palloc(sizeof(Credit) * static_cast<Size>(credits.count)));
    int found = 0;
    for (int i = 0; i < credits.count; ++i)
        if (same_statement(credits.items[i].statement, statement) &&
            row_replaced(rel, credits.items[i].row))
            mine[found++] = credits.items[i];
    if (found == 0)
        return nullptr;
    // A row's update tried again after a rollback to a savepoint was
    // credited twice: once per row.
    qsort(mine, found, sizeof *mine, by_row);
    auto* tenants = static_cast<TenantCredit*>(palloc(sizeof(TenantCredit) * found));
    int count = 0;
    for (int i = 0; i < found; ++i)
        if (i == 0 || ItemPointerCompare(&mine[i].row, &mine[i - 1].row) != 0)
            tenants[count++] = TenantCredit{mine[i].tenant, mine[i].amount};
    qsort(tenants, count, sizeof *tenants, by_tenant);
    int merged = 0;
    for (int i = 0; i < count; ++i) {
        if (merged > 0 && std::strcmp(tenants[merged - 1].tenant, tenants[i].tenant) == 0) {
            // Each is a row's amount, counted in the statement's sum for
            // the tenant: their sum is no more than that sum.
            tenants[merged - 1].amount += tenants[i].amount;
            continue;
        }
        tenants[merged++] = tenants[i];
    }
    auto* result = static_cast<StatementCredits*>(palloc(sizeof(StatementCredits)));
    result->tenants = tenants;
    result->count = merged;
    return result;
}

int64 credit_of(const StatementCredits* statement, const char* tenant)
{
    if (statement == nullptr)
        return 0;
    TenantCredit key{tenant, 0};
    auto* found = static_cast<const TenantCredit*>(
        bsearch(&key, statement->tenants, statement->count, sizeof key, by_tenant));
    return found == nullptr ? 0 : found->amount;
}

void mark_statement_counted(Relation rel, const char* resource)
{
    CommandId cid = statement_writing_cid(statement_nesting_level());
    if (cid == InvalidCommandId)
        return;
    append(&counted, statement_of(cid, rel, resource),
           [](const StatementOfTable& item) { return item; });
}

void forget_uncounted_rows()
{
    credits = Items<Credit>{};
    counted = Items<StatementOfTable>{};
}

} // namespace zechat::billing::pg
