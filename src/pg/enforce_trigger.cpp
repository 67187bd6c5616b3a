// The trigger installed by billing.enforce_quota on application tables.
//
// Arguments: resource, tenant column, amount column ('' = each row is 1).
//   BEFORE INSERT (row)     consume the row's amount for its tenant
//   BEFORE UPDATE (row)     gauges: move or adjust usage; growth is checked
//                           (settled at statement end when a later trigger
//                           may skip the update: skippable_updates.hpp)
//   AFTER DELETE (row)      gauges: release the row's amount
//   BEFORE TRUNCATE (stmt)  gauges: release everything the table holds
//   AFTER INSERT (stmt)     instead of BEFORE INSERT on a table enforced per
//                           statement: consume the inserted rows' amounts
//                           per tenant (statement_inserts.hpp)
// What the arguments name is resolved once per trigger and cached
// (trigger_layout.hpp).
#include <cstring>

#include "trigger_layout.hpp"

#include "../core/gauge_row_change.hpp"
#include "../core/tenant_key.hpp"

#include "admission.hpp"
#include "enforced_values.hpp"
#include "gauge_row_totals.hpp"
#include "held_refusals.hpp"
#include "insert_confirmation.hpp"
#include "partition_moves.hpp"
#include "pg_boundary.hpp"
#include "skippable_updates.hpp"
#include "statement_inserts.hpp"
#include "statement_nesting.hpp"
#include "uncounted_rows.hpp"
#include "usage_release.hpp"

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// The row's tenant as text, nullptr when it is NULL.
const char* tenant_text(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    bool isnull;
    Datum value =
        heap_getattr(row, layout.tenant_attnum, RelationGetDescr(data->tg_relation), &isnull);
    return isnull ? nullptr : tenant_id_text(value, layout.tenant_type);
}

// The tenant of a row being written; NULL tenants are refused (they cannot
// be billed), and so are empty and over-long ids (make_quota_key).
const char* tenant_of(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    const char* tenant = tenant_text(data, layout, row);
    if (tenant == nullptr)
        refuse_null_tenant(data->tg_relation, layout.resource);
    return tenant;
}

// The tenant a stored row was counted for, nullptr when it never was: rows
// with a NULL, empty or over-long tenant id cannot be written while the
// table is enforced, and the backfill and recount skip those from before,
// so deleting or updating one gives nothing back (and must not fail).
const char* counted_tenant_of(const char* tenant)
{
    if (tenant == nullptr || check_tenant_id(std::strlen(tenant)) != TenantIdProblem::none)
        return nullptr;
    return tenant;
}

// The row's amount column as stored: 1 per row without one; NULL is 0.
int64 stored_amount_of(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    if (layout.amount_attnum == InvalidAttrNumber)
        return 1;
    bool isnull;
    Datum value =
        heap_getattr(row, layout.amount_attnum, RelationGetDescr(data->tg_relation), &isnull);
    return isnull ? 0 : amount_value(value, layout.amount_type);
}

// The amount of a row being written: a negative one is refused.
int64 amount_of(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    int64 amount = stored_amount_of(data, layout, row);
    if (amount < 0)
        refuse_negative_amount(data->tg_relation, amount);
    return amount;
}

// The amount a stored row was counted with: a negative one (from before
// enforce_quota) counted 0, as the backfill and recount count it.
int64 counted_amount_of(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    return gauge_row_counted_amount(true, stored_amount_of(data, layout, row));
}

// Consumes the amount of a row of rel.  Refused, raises, or returns false
// with the refusal held until the row has passed row-level security
// (held_refusals.hpp): the row then changes nothing.
bool consume_for_row(Relation rel, const QuotaKey& key, int64 amount)
{
    if (amount == 0)
        return true;
    QuotaRemaining outcome;
    if (consume_quota(key, amount, OnRefusal::describe, &outcome))
        return true;
    raise_or_hold_refusal(rel, key, amount, outcome.refusal);
    return false;
}

bool is_gauge(const QuotaKey& key)
{
    return terms_for(key).kind == ResourceKind::gauge;
}

// The tenant a mark of a moving row names: its counted tenant, or "" (no
// tenant id is empty) for a row that was never counted.
const char* move_mark_tenant(const char* tenant_text)
{
    const char* tenant = counted_tenant_of(tenant_text);
    return tenant == nullptr ? "" : tenant;
}

// Whether this insert is the second half of a row an UPDATE moves from
// another partition whose first half left a mark (partition_moves.hpp):
// a period resource's row, counted when first inserted, or a row never
// counted (a NULL tenant, a negative amount, from before enforce_quota),
// which stays so wherever it moves.  Either counts nothing, and is not
// checked as a new row would be.
bool is_marked_move(TriggerData* data, const TriggerLayout& layout, HeapTuple row)
{
    if (!partition_moves_pending()) // every insert comes here: stay cheap
        return false;
    return take_partition_move(data->tg_relation, layout.resource,
                               move_mark_tenant(tenant_text(data, layout, row)));
}

// With its confirming trigger firing, the row waits for confirmation (an
// amount of 0 too: the trigger's WHEN clause confirms whatever was pushed
// last), and a refusal for the limit waits with it.  Without (none, the
// default; disabled) a row is counted as written.
void on_insert(TriggerData* data, const TriggerLayout& layout)
{
    HeapTuple row = data->tg_trigtuple;
    QuotaKey key{};
    int64 amount = 0;
    if (!is_marked_move(data, layout, row)) {
        // The tenant is checked first (NULL, empty, over-long), then the
        // amount: a row of amount 0 is refused for a bad tenant too.
        key = make_quota_key(tenant_of(data, layout, row), layout.resource);
        amount = amount_of(data, layout, row);
    }
    if (!confirmation_fires(layout.confirmation_enabled)) {
        (void)consume_for_row(data->tg_relation, key, amount);
        return;
    }
    make_room_for_unconfirmed_insert();
    PendingUsage* entry = nullptr;
    DeferredRefusal refusal{};
    DescribedRefusal refused;
    if (amount > 0 && !consume_quota_deferring_limit(key, amount, &entry, &refusal, &refused)) {
        // Held: nothing consumed, and the confirmation pairs with nothing.
        raise_or_hold_refusal(data->tg_relation, key, amount, refused);
        amount = 0;
        entry = nullptr;
    }
    expect_insert_confirmation(layout.confirmation_table, layout.resource, entry, amount, refusal);
}

// The rows one statement inserted into a table whose enforcement is per
// statement (statement_inserts.hpp).
void on_inserted_rows(TriggerData* data, const TriggerLayout& layout)
{
    if (data->tg_newtable == nullptr)
        bad_trigger_setup(data->tg_relation,
                          "a statement trigger on INSERT needs REFERENCING NEW TABLE");
    // AFTER STATEMENT triggers fire once every row of the statement, at
    // this level, was written or skipped: a row of another table that it
    // counted and did not write (a data-modifying WITH's, skipped by its ON
    // CONFLICT) no longer counts, or these rows would be refused for it.
    take_back_unconfirmed_deeper_than(statement_nesting_level() - 1);
    InsertedRowColumns columns{layout.resource, layout.tenant_attnum, layout.tenant_type,
                               layout.amount_attnum, layout.amount_type};
    consume_inserted_rows(data->tg_relation, data->tg_newtable, columns);
}

bool same_tenant(const char* a, const char* b)
{
    return a == nullptr || b == nullptr ? a == b : std::strcmp(a, b) == 0;
}

// Growth is checked against the limit before anything is given back, so a
// refused update changes nothing.  The old row is taken as it was counted
// (counted_tenant_of), the new one as any row being written.
void on_update(TriggerData* data, const TriggerLayout& layout)
{
    HeapTuple old_row = data->tg_trigtuple;
    HeapTuple new_row = data->tg_newtuple;
    const char* old_text = tenant_text(data, layout, old_row);
    const char* new_text = tenant_text(data, layout, new_row);
    const char* old_tenant = counted_tenant_of(old_text);
    int64 old_stored = stored_amount_of(data, layout, old_row);
    bool tenant_kept = same_tenant(old_text, new_text);
    bool amount_kept = old_stored == stored_amount_of(data, layout, new_row);
    bool stays_uncounted =
        gauge_update_stays_uncounted(tenant_kept, old_tenant != nullptr, amount_kept, old_stored);
    // Nothing changes for the usage, but for a row its statement has not
    // counted yet (uncounted_rows.hpp): the new version can no longer be
    // traced to the statement, so it goes on to be counted now, below
    // (otherwise a later delete of it would give back what was never
    // counted).  The test is cheap, and false for almost every row.
    if (tenant_kept && amount_kept && !stays_uncounted && !written_by_running_statement(old_row))
        return;
    // A row the UPDATE moves to another partition is deleted from its own
    // and inserted into the other, whose triggers count it (the release of
    // the old row, the consumption of the new one): the change counted here
    // too would be counted twice.  One never counted gives back nothing
    // there, and the insert must count nothing either: it takes the mark.
    bool moves = update_moves_row(data->tg_relation, old_row, new_row);
    if (moves && stays_uncounted &&
        moved_row_stays_in(data->tg_relation, new_row, layout.enforced_table))
        note_partition_move(data->tg_relation, old_row, layout.resource,
                            move_mark_tenant(old_text));
    // A later BEFORE UPDATE trigger may still skip the update, or keep the
    // row where it is: the change is then settled when the statement ends
    // (skippable_updates.hpp).
    bool held = layout.update_skippable && update_can_be_held();
    if ((moves && !held) || stays_uncounted)
        return;

    int64 old_amount = gauge_row_counted_amount(old_tenant != nullptr, old_stored);
    int64 new_amount = amount_of(data, layout, new_row);
    QuotaKey new_key = make_quota_key(tenant_of(data, layout, new_row), layout.resource);
    if (!is_gauge(new_key))
        return;
    // A row its statement has not counted yet: consumed as it is now, and
    // its statement counts it as it was, less the credit (an update keeping
    // tenant and amount too).
    if (!moves && old_amount > 0 &&
        credit_if_uncounted(data->tg_relation, data->tg_trigger->tgfoid, layout.resource, old_row,
                            old_tenant, old_amount, RowChange::updated, new_key.tenant_id,
                            new_amount)) {
        (void)consume_for_row(data->tg_relation, new_key, new_amount);
        return;
    }
    // Consumed for the new version; given back for the old one.
    GaugeUpdate change = gauge_update_change(old_amount, new_amount, tenant_kept);
    int64 consumed = change.consumed;
    int64 given_back = change.given_back;
    const char* given_back_by = tenant_kept ? new_key.tenant_id : old_tenant;
    if (moves) {
        hold_update(data->tg_relation, old_row, layout.resource, new_key.tenant_id, consumed,
                    given_back_by, given_back, true);
        return;
    }
    QuotaKey given_back_key{};
    if (given_back > 0)
        given_back_key = make_quota_key(given_back_by, layout.resource);
    // Keys locked in tenant id order (lock mode): growth is still checked
    // before anything is given back.
    if (!tenant_kept && given_back > 0 && std::strcmp(old_tenant, new_key.tenant_id) < 0)
        lock_gauge_key_before(given_back_key);
    if (!consume_for_row(data->tg_relation, new_key, consumed))
        return; // refusal held: the update gives nothing back either
    if (held) {
        // Given back once the update is known done; its key locked now, in
        // the order it would have been.
        if (given_back > 0)
            lock_gauge_key_before(given_back_key);
        hold_update(data->tg_relation, old_row, layout.resource, new_key.tenant_id, consumed,
                    given_back_by, given_back);
        return;
    }
    if (given_back > 0)
        release_quota(given_back_key, given_back, ReleaseOf::stored_rows);
}

// A period resource's row moving to another partition: leave the mark its
// insert there will find.  An UPDATE changes no period resource's count,
// whatever it sets the tenant or the amount to (a NULL tenant too).
void on_moving_update(TriggerData* data, const TriggerLayout& layout)
{
    HeapTuple new_row = data->tg_newtuple;
    if (update_moves_row(data->tg_relation, data->tg_trigtuple, new_row) &&
        moved_row_stays_in(data->tg_relation, new_row, layout.enforced_table))
        note_partition_move(data->tg_relation, data->tg_trigtuple, layout.resource,
                            move_mark_tenant(tenant_text(data, layout, new_row)));
}

void on_delete(TriggerData* data, const TriggerLayout& layout)
{
    HeapTuple row = data->tg_trigtuple;
    const char* tenant = counted_tenant_of(tenant_text(data, layout, row));
    if (tenant == nullptr)
        return;
    int64 amount = counted_amount_of(data, layout, row);
    if (amount == 0)
        return;
    QuotaKey key = make_quota_key(tenant, layout.resource);
    if (!is_gauge(key) ||
        credit_if_uncounted(data->tg_relation, data->tg_trigger->tgfoid, layout.resource, row,
                            tenant, amount, RowChange::deleted))
        return;
    release_quota(key, amount, ReleaseOf::stored_rows);
}

// TRUNCATE empties the table: give back, per tenant, what its rows held
// (its own rows: those of inheritance children never passed this table's
// triggers), summed by a scan of the table (gauge_row_totals.hpp: a query
// planned here ran what the table's owner put in its indexes with the
// extension owner's rights).  With the latest snapshot: TRUNCATE holds
// ACCESS EXCLUSIVE here, so every row written is committed and seen; in
// REPEATABLE READ and SERIALIZABLE the transaction's snapshot, taken before
// the lock was granted, would miss the rows of writers it waited for, and
// their usage would outlive them.
void on_truncate(TriggerData* data, const TriggerLayout& layout)
{
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    HTAB* totals = sum_rows_per_tenant(data->tg_relation, layout.tenant_attnum,
                                       layout.amount_attnum, nullptr, snapshot);
    UnregisterSnapshot(snapshot);
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, totals);
    while (auto* entry = static_cast<TenantTotal*>(hash_seq_search(&seq))) {
        if (entry->total <= 0)
            continue;
        QuotaKey key = make_quota_key(entry->tenant_id, layout.resource);
        if (!is_gauge(key)) {
            hash_seq_term(&seq);
            break;
        }
        release_quota(key, entry->total, ReleaseOf::stored_rows);
    }
    hash_destroy(totals);
}

Datum enforce_quota_trigger_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._enforce_quota_trigger() must be called as a trigger")));
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    TriggerEvent event = data->tg_event;

    // The confirming trigger's WHEN clause is always false: it never runs,
    // and has nothing to do.
    if (TRIGGER_FIRED_FOR_ROW(event) && TRIGGER_FIRED_BY_INSERT(event) &&
        TRIGGER_FIRED_AFTER(event))
        return (Datum)0;
    // Whether or not anything is counted now, the last row the INSERT
    // trigger counted was written, and confirmed, or was not; an UPDATE
    // (ON CONFLICT DO UPDATE) means the proposed row is not.  Either way
    // that row passed row-level security: a refusal held for it goes out.
    if (TRIGGER_FIRED_FOR_ROW(event) && TRIGGER_FIRED_BEFORE(event) &&
        (TRIGGER_FIRED_BY_INSERT(event) || TRIGGER_FIRED_BY_UPDATE(event)) &&
        data->tg_trigger->tgnargs > 0) {
        raise_refusals_held_before_row(data->tg_relation, data->tg_trigger->tgargs[0]);
        take_back_unwritten_insert(data->tg_relation, data->tg_trigger->tgargs[0]);
    }

    Datum result = (Datum)0;
    if (TRIGGER_FIRED_FOR_ROW(event) && TRIGGER_FIRED_BEFORE(event))
        result = PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(event) ? data->tg_newtuple
                                                                : data->tg_trigtuple);

    if (!enforcement_enabled())
        return result;

    TriggerLayout layout = layout_for(data);
    if (TRIGGER_FIRED_BY_TRUNCATE(event))
        on_truncate(data, layout);
    else if (!TRIGGER_FIRED_FOR_ROW(event) && TRIGGER_FIRED_BY_INSERT(event) &&
             TRIGGER_FIRED_AFTER(event))
        on_inserted_rows(data, layout);
    else if (!TRIGGER_FIRED_FOR_ROW(event))
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("billing triggers on UPDATE and DELETE, and BEFORE INSERT, must be FOR "
                        "EACH ROW")));
    else if (TRIGGER_FIRED_BY_INSERT(event))
        on_insert(data, layout);
    else if (TRIGGER_FIRED_BY_UPDATE(event) && layout.marks_moves)
        on_moving_update(data, layout);
    else if (TRIGGER_FIRED_BY_UPDATE(event))
        on_update(data, layout);
    else if (TRIGGER_FIRED_BY_DELETE(event))
        on_delete(data, layout);
    return result;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_enforce_quota_trigger, enforce_quota_trigger_body)
}
