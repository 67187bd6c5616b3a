#include <cstring>

#include "insert_confirmation.hpp"

#include "../core/tenant_key.hpp"

#include "admission.hpp"
#include "growing_array.hpp"
#include "partition_moves.hpp"
#include "pending_usage.hpp"
#include "pg_boundary.hpp"
#include "refusal.hpp"
#include "statement_nesting.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

namespace zechat::billing::pg {

namespace {

struct UnconfirmedInsert {
    Oid table;           // confirmation_table_of() the table the row went to
    PendingUsage* entry; // as counted; moved since: entry_now()
    uint64 moves_seen;   // the moves recorded when it was counted
    int64 amount;
    SubTransactionId subxact;
    int level; // statement_nesting_level() of the statement that counted the row
    char resource[resource_field_bytes];
    DeferredRefusal refusal;
};

// A stack in TopMemoryContext: a row's INSERT triggers push (one per
// resource enforced on the table), the WHEN clauses of its AFTER triggers
// pop, so it rarely holds more than the resources of one row.
UnconfirmedInsert* unconfirmed = nullptr;
int unconfirmed_count = 0;
int unconfirmed_capacity = 0;

// Schedule changes that moved a period's usage, with unconfirmed rows in
// it, to another period (retarget_unconfirmed), in the order they ran, each
// kept until the subtransaction that made it ends: rolled back, the move
// is undone and so is this.  Rarely more than none.
struct UsageMove {
    uint64 number; // moves recorded before it
    const PendingUsage* from;
    PendingUsage* to;
    SubTransactionId subxact;
};
UsageMove* moves = nullptr;
int move_count = 0;
int move_capacity = 0;
uint64 moves_recorded = 0;

// Where the row's count is now: its entry, followed through the moves
// made since it was counted.
PendingUsage* entry_now(const UnconfirmedInsert& row)
{
    PendingUsage* entry = row.entry;
    for (int i = 0; i < move_count; ++i)
        if (moves[i].number >= row.moves_seen && moves[i].from == entry)
            entry = moves[i].to;
    return entry;
}

void remove_unconfirmed(int i)
{
    --unconfirmed_count;
    std::memmove(&unconfirmed[i], &unconfirmed[i + 1],
                 sizeof(UnconfirmedInsert) * static_cast<Size>(unconfirmed_count - i));
    if (unconfirmed_count == 0)
        move_count = 0; // no row left to follow them
}

void take_back(int i)
{
    UnconfirmedInsert row = unconfirmed[i];
    PendingUsage* entry = entry_now(row); // before the moves may go with the row
    remove_unconfirmed(i);
    if (row.amount > 0) {
        take_back_consumption(entry, row.subxact, row.amount);
        // Perhaps the key's last change: its pin goes too, not at once (the
        // next row may be the key's again) but by the statement's end.
        wait_to_give_back_pin(entry);
    }
}

// billing._insert_written(): see insert_confirmation.hpp.  Always false:
// the AFTER trigger it guards has nothing left to do.  The row written is
// the one whose INSERT triggers pushed last at this statement's level: rows
// written while another is on its way (inserted by statements its triggers
// or CHECK functions run, a level deeper) are confirmed before it, and those
// such statements counted but did not write (skipped by their ON CONFLICT)
// are taken back when they end, or here.
Datum insert_written_body(FunctionCallInfo fcinfo)
{
    // As the INSERT trigger, which pushed nothing while enforcement was off.
    if (unconfirmed_count == 0 || !enforcement_enabled())
        PG_RETURN_BOOL(false);
    int level = statement_nesting_level();
    take_back_unconfirmed_deeper_than(level);
    if (unconfirmed_count == 0 || unconfirmed[unconfirmed_count - 1].level != level)
        PG_RETURN_BOOL(false);
    const UnconfirmedInsert& row = unconfirmed[unconfirmed_count - 1];
    // Written over the limit: the statement fails, and the row with it.
    // Raised with the row still here: a call by hand that catches the error
    // (in a subtransaction younger than the row's) must leave its count to
    // be taken back when the statement ends, or the count would stay over
    // the limit.  When the statement fails, its abort drops the row.
    if (row.refusal.deferred)
        report_refusal(pending_quota_key(entry_now(row)), row.refusal.limit, row.refusal.used,
                       row.amount, RefusalReason::limit_reached, row.refusal.subscription);
    --unconfirmed_count;
    PG_RETURN_BOOL(false);
}

// Is this trigger's WHEN clause billing._insert_written(), the function
// next to the trigger's own?
bool when_confirms_inserts(const Trigger* trigger)
{
    if (trigger->tgqual == nullptr)
        return false;
    Node* qual = static_cast<Node*>(stringToNode(trigger->tgqual));
    if (!IsA(qual, FuncExpr) || castNode(FuncExpr, qual)->args != NIL)
        return false;
    Oid function = castNode(FuncExpr, qual)->funcid;
    const char* name = get_func_name(function);
    return name != nullptr && std::strcmp(name, "_insert_written") == 0 &&
           get_func_namespace(function) == get_func_namespace(trigger->tgfoid);
}

} // namespace

char confirmation_trigger_enabled(Relation rel, const Trigger* self)
{
    TriggerDesc* triggers = rel->trigdesc;
    for (int i = 0; triggers != nullptr && i < triggers->numtriggers; ++i) {
        const Trigger* other = &triggers->triggers[i];
        if (other->tgfoid == self->tgfoid &&
            TRIGGER_TYPE_MATCHES(other->tgtype, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER,
                                 TRIGGER_TYPE_INSERT) &&
            other->tgnargs >= 1 && std::strcmp(other->tgargs[0], self->tgargs[0]) == 0 &&
            when_confirms_inserts(other))
            return other->tgenabled;
    }
    return '\0';
}

bool confirmation_fires(char tgenabled)
{
    if (tgenabled == '\0' || tgenabled == TRIGGER_DISABLED)
        return false;
    if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
        return tgenabled == TRIGGER_FIRES_ON_REPLICA || tgenabled == TRIGGER_FIRES_ALWAYS;
    return tgenabled == TRIGGER_FIRES_ON_ORIGIN || tgenabled == TRIGGER_FIRES_ALWAYS;
}

Oid confirmation_table_of(Relation rel)
{
    if (!rel->rd_rel->relispartition)
        return RelationGetRelid(rel);
    return partition_tree_root(RelationGetRelid(rel));
}

void take_back_unwritten_insert(Relation rel, const char* resource)
{
    if (unconfirmed_count == 0) // every row comes here: stay cheap
        return;
    // Rows of statements run deeper have ended; rows counted at a shallower
    // level are on their way (this runs inside their triggers or CHECK
    // functions).  At this level a row goes from its INSERT triggers to its
    // confirmation before another row starts: a row of another table (a
    // data-modifying WITH feeding this statement) is decided, and so is the
    // previous row of this table for this resource; the entries of this
    // table for other resources are the current row's.  (Otherwise a row
    // that WITH skipped would stay counted while this one is checked, and
    // this one could be refused for it.)
    int level = statement_nesting_level();
    take_back_unconfirmed_deeper_than(level);
    Oid table = confirmation_table_of(rel);
    size_t length = std::strlen(resource);
    bool previous_row_found = false;
    for (int i = unconfirmed_count - 1; i >= 0; --i) {
        if (unconfirmed[i].level != level)
            continue;
        if (unconfirmed[i].table != table) {
            take_back(i);
        } else if (!previous_row_found &&
                   std::strncmp(unconfirmed[i].resource, resource, length) == 0 &&
                   unconfirmed[i].resource[length] == '\0') {
            take_back(i);
            previous_row_found = true;
        }
    }
}

void make_room_for_unconfirmed_insert()
{
    make_room_for_item(&unconfirmed, unconfirmed_count, &unconfirmed_capacity, 8, TopMemoryContext);
}

void expect_insert_confirmation(Oid table, const char* resource, PendingUsage* entry, int64 amount,
                                const DeferredRefusal& refusal)
{
    // make_room_for_unconfirmed_insert() came first.
    UnconfirmedInsert& row = unconfirmed[unconfirmed_count++];
    row.table = table;
    row.entry = entry;
    row.moves_seen = moves_recorded;
    row.amount = amount;
    row.subxact = GetCurrentSubTransactionId();
    row.level = statement_nesting_level();
    strlcpy(row.resource, resource, sizeof row.resource);
    row.refusal = refusal;
}

void take_back_unconfirmed_deeper_than(int level)
{
    for (int i = unconfirmed_count - 1; i >= 0; --i)
        if (unconfirmed[i].level > level)
            take_back(i);
}

int64 unconfirmed_amount(const PendingUsage* entry)
{
    int64 amount = 0;
    for (int i = 0; i < unconfirmed_count; ++i)
        if (unconfirmed[i].amount > 0 && entry_now(unconfirmed[i]) == entry)
            amount += unconfirmed[i].amount;
    return amount;
}

void retarget_unconfirmed(const PendingUsage* from, PendingUsage* to)
{
    if (unconfirmed_amount(from) == 0)
        return;
    make_room_for_item(&moves, move_count, &move_capacity, 4, TopMemoryContext);
    moves[move_count++] = UsageMove{moves_recorded++, from, to, GetCurrentSubTransactionId()};
}

bool unconfirmed_insert_refers_to(const PendingUsage* entry)
{
    for (int i = 0; i < unconfirmed_count; ++i)
        if (unconfirmed[i].entry == entry)
            return true;
    for (int i = 0; i < move_count; ++i)
        if (moves[i].from == entry || moves[i].to == entry)
            return true;
    return false;
}

void take_back_unwritten_inserts()
{
    while (unconfirmed_count > 0)
        take_back(unconfirmed_count - 1);
}

void unconfirmed_inserts_at_subxact_end(bool commit, SubTransactionId subxact,
                                        SubTransactionId parent)
{
    for (int i = 0; i < move_count;) {
        if (moves[i].subxact != subxact) {
            ++i;
        } else if (commit) {
            moves[i++].subxact = parent;
        } else {
            --move_count;
            std::memmove(&moves[i], &moves[i + 1],
                         sizeof(UsageMove) * static_cast<Size>(move_count - i));
        }
    }
    for (int i = 0; i < unconfirmed_count;) {
        if (unconfirmed[i].subxact != subxact) {
            ++i;
        } else if (commit) {
            unconfirmed[i++].subxact = parent;
        } else {
            remove_unconfirmed(i);
        }
    }
}

void forget_unconfirmed_inserts()
{
    unconfirmed_count = 0;
    move_count = 0;
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_insert_written, zechat::billing::pg::insert_written_body)
}
