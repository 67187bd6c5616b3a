#include "late_schedule_changes.hpp"

#include <algorithm>
#include <cstring>

#include "billing_catalog.hpp"
#include "billing_period.hpp"
#include "growing_array.hpp"
#include "owner_spi.hpp"
#include "pending_counter_moves.hpp"
#include "pg_boundary.hpp"
#include "quota_input.hpp"
#include "usage_moves.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// 55000 for a change of the tenant's schedule in this transaction: the
// message every refusal here shares, `detail` and `hint` saying why.
[[noreturn]] void refuse_change(const char* tenant_id, const char* detail, const char* hint)
{
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("cannot change the billing schedule of tenant \"%s\" in a transaction begun in "
                    "a billing period that has ended since",
                    tenant_id),
             errdetail_internal("%s", detail), errhint("%s", hint)));
    pg_unreachable();
}

// The refusal for usage of `resource` committed (in_flight false) or in
// flight in a period that began after the transaction did.
[[noreturn]] void refuse_later_usage(const char* tenant_id, const char* resource, bool in_flight)
{
    refuse_change(tenant_id,
                  psprintf(in_flight ? "Consumption of resource \"%s\" in a period that began "
                                       "after the transaction did is in flight."
                                     : "Usage of resource \"%s\" counts in a period that began "
                                       "after the transaction did.",
                           resource),
                  "Make the change again in a new transaction.");
}

// A tenant whose schedule this transaction changed: the schedule it left
// (periods of `interval` from `anchor`), the end of its period under it at
// the transaction's now(), and the start of its period under the new one.
struct ChangedSchedule {
    char* tenant_id; // in TopTransactionContext
    TimestampTz anchor;
    Interval interval;
    TimestampTz period_end;
    TimestampTz to;
    SubTransactionId subxact; // the subtransaction that changed it
};

// A later period of a tenant whose keys the check claimed.
struct ClaimedPeriod {
    const char* tenant_id;
    TimestampTz start;
};

// In TopTransactionContext: forgotten (not freed) when the transaction ends.
ChangedSchedule* changed = nullptr;
int changed_count = 0;
int changed_capacity = 0;

SPIPlanPtr committed_plan = nullptr;
SPIPlanPtr period_resources_plan = nullptr;

constexpr const char* period_resources_query =
    "SELECT r.resource FROM billing.resources AS r"
    " WHERE r.kind OPERATOR(pg_catalog.=) 'period' ORDER BY r.resource";

// One of the tenants ($1) with usage committed (as the latest snapshot
// shows it) of a period resource in the period starting at $2, and that
// resource.  Each tenant's rows through the primary key (LATERAL): joined
// as sets, the planner took a hash join over the whole table (a helper's
// measure: 25 to 150 ms for 1,000 to 3,000 tenants).  The claimed periods
// only: a consumer under the old schedule counts in one of them.
constexpr const char* committed_query =
    "SELECT c.tenant_id, u.resource"
    "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS c(tenant_id, period_start)"
    " CROSS JOIN LATERAL ("
    "   SELECT p.resource FROM billing.usage_parts AS p"
    "     JOIN billing.resources AS r ON r.resource OPERATOR(pg_catalog.=) p.resource"
    "      AND r.kind OPERATOR(pg_catalog.=) 'period'"
    "    WHERE p.tenant_id OPERATOR(pg_catalog.=) c.tenant_id"
    "      AND p.period_start OPERATOR(pg_catalog.=) c.period_start"
    "    GROUP BY p.resource"
    "   HAVING pg_catalog.sum(p.used) OPERATOR(pg_catalog.>) 0"
    "    LIMIT 1) AS u"
    " LIMIT 1";

// Raises for one of the `claimed` periods with usage committed.  As the
// extension owner, with the latest snapshot: the transaction's own
// (REPEATABLE READ) snapshot misses what consumers committed since, which
// the claim of a key without a counter reads with it in shared-memory
// mode.  The change locked usage_parts already, so the snapshot is not
// older than the table.
void refuse_committed_later_usage(const ClaimedPeriod* claimed, int count)
{
    Datum* ids = static_cast<Datum*>(palloc(sizeof(Datum) * static_cast<Size>(count)));
    Datum* starts = static_cast<Datum*>(palloc(sizeof(Datum) * static_cast<Size>(count)));
    for (int c = 0; c < count; ++c) {
        ids[c] = CStringGetTextDatum(claimed[c].tenant_id);
        starts[c] = TimestampTzGetDatum(claimed[c].start);
    }
    Datum args[2] = {PointerGetDatum(construct_array(ids, count, TEXTOID, -1, false, TYPALIGN_INT)),
                     PointerGetDatum(construct_array(starts, count, TIMESTAMPTZOID, 8,
                                                     FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    SavedUser saved;
    connect_spi_as_owner(&saved);
    if (committed_plan == nullptr) {
        Oid types[2] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID};
        committed_plan = prepare_kept_plan(committed_query, 2, types);
    }
    int rc = SPI_execute_snapshot(committed_plan, args, nullptr, GetLatestSnapshot(),
                                  InvalidSnapshot, true, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "zechat_billing: reading tenants' later usage failed: %s",
             SPI_result_code_string(rc));
    if (SPI_processed > 0)
        refuse_later_usage(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
                           SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), false);
    disconnect_spi(&saved);
}

// The resources counted per period (palloc'd), into *resources.
int period_resources(char*** resources)
{
    SavedUser saved;
    connect_spi_as_owner(&saved);
    if (period_resources_plan == nullptr)
        period_resources_plan = prepare_kept_plan(period_resources_query, 0, nullptr);
    // No snapshot is active at PRE_COMMIT: one given, as for every read here.
    int rc = SPI_execute_snapshot(period_resources_plan, nullptr, nullptr, GetLatestSnapshot(),
                                  InvalidSnapshot, true, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "zechat_billing: reading the period resources failed: %s",
             SPI_result_code_string(rc));
    int count = static_cast<int>(SPI_processed);
    // In the caller's context: SPI's goes at disconnect_spi.
    *resources =
        static_cast<char**>(SPI_palloc(sizeof(char*) * static_cast<Size>(std::max(count, 1))));
    for (int i = 0; i < count; ++i) {
        char* resource = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
        (*resources)[i] = static_cast<char*>(SPI_palloc(strlen(resource) + 1));
        strcpy((*resources)[i], resource);
    }
    disconnect_spi(&saved);
    return count;
}

// The claims keep up with the clock only if the old schedule's periods
// last longer than the claims take (a helper's attack: periods of a
// microsecond, or 200 subscribers on a plan of a millisecond, and the
// COMMIT went on claiming, its memory growing, until cancelled;
// statement_timeout is off by then).  So a change is refused once more
// than max_periods_begun of its periods began during the claims, or its
// claims reach max_periods_claimed (a transaction left open that many
// periods), or the changes were gone over max_claim_passes times: consumers
// of periods no claim reached would not wait for it.  A subscriber of a
// month lingering in its transaction, or 3,000 subscribers of a plan of a
// second (108 ms a pass in lock mode), stay well inside.
constexpr int max_periods_begun = 16;
constexpr int max_periods_claimed = 1000;
constexpr int max_claim_passes = 4;

[[noreturn]] void refuse_claims_outrun(const ChangedSchedule& change)
{
    refuse_change(change.tenant_id,
                  "Periods of its old schedule began faster than the commit could claim them for "
                  "consumers that have not seen the change.",
                  "Make the change again in a new transaction, for fewer tenants at a time.");
}

// Claims the tenant's keys of the period resources in a later period of
// the old schedule: closes each, as the change closes the periods before
// its own, which makes a consumer under the old schedule wait for the
// change -- for the key's row the claim locks or inserts and deletes again
// (lock mode), for the mark or the record of the move (shared-memory mode)
// -- and then decide again under the new schedule once it commits.
// Refused where the key has usage (committed: lock mode waits for what was
// in flight) or another transaction holds consumption of it in flight
// (shared-memory mode).
void claim_period(const ChangedSchedule& change, TimestampTz start, char* const* resources,
                  int resource_count)
{
    for (int r = 0; r < resource_count; ++r) {
        QuotaKey key = make_quota_key(change.tenant_id, resources[r]);
        if (close_usage(key, start, change.to) > 0)
            refuse_later_usage(change.tenant_id, resources[r], false);
        if (others_in_flight_at_move(key, start))
            refuse_later_usage(change.tenant_id, resources[r], true);
    }
}

// Each change's later periods under the old schedule are claimed
// (claim_period), from the end of its period at its now() up to the one
// after the clock's, then looked at for usage committed.  Also where that
// period has not ended yet: a COMMIT begun before its end may be visible
// only after it (the commit's own work, its flush, a synchronous standby;
// until 2026-12-07 nothing was claimed then, and consumers of the next
// period meanwhile went uncounted, 10 of 5 in both modes, a helper's
// attack).  The clock is read again after each claim, and the changes
// are gone over again until none has a claimed period begun: a claim may
// wait for a consumer in flight (lock mode), and periods begin meanwhile
// (until 2026-12-07, with the clock read once, one beginning during such
// a wait went unclaimed: 10 of 5, a helper's attack).  One beginning after
// the last look, before the commit is visible, goes unseen (README, known
// limit).  Before the claims a look for usage in flight left a window up
// to the commit, in which a consumer's first admission in a later period
// went unseen (until 2026-12-07, both modes: 10 of 5 with the change
// stopped in its COMMIT; tests/scripts/late_change_commit_window.sh).
void check_again()
{
    char** resources = nullptr;
    int resource_count = period_resources(&resources);
    PeriodCalendar calendar = this_database_calendar();
    // Per change, the next period to claim, the start of the last claimed
    // (none yet: DT_NOBEGIN, so that the first is claimed), and how many.
    auto* next = static_cast<BillingPeriod*>(
        palloc(sizeof(BillingPeriod) * static_cast<Size>(changed_count)));
    auto* claimed_to =
        static_cast<TimestampTz*>(palloc(sizeof(TimestampTz) * static_cast<Size>(changed_count)));
    auto* periods_claimed =
        static_cast<int*>(palloc0(sizeof(int) * static_cast<Size>(changed_count)));
    auto* periods_begun =
        static_cast<int*>(palloc0(sizeof(int) * static_cast<Size>(changed_count)));
    TimestampTz check_began = GetCurrentTimestamp();
    for (int i = 0; i < changed_count; ++i) {
        next[i] = billing_period_containing(changed[i].anchor, &changed[i].interval,
                                            changed[i].period_end, calendar);
        claimed_to[i] = DT_NOBEGIN;
    }
    ClaimedPeriod* claimed = nullptr;
    int claimed_count = 0;
    int claimed_capacity = 0;
    for (int pass = 0;; ++pass) {
        int begun = -1; // a change whose last claimed period has begun
        for (int i = 0; i < changed_count && begun < 0; ++i)
            if (claimed_to[i] <= GetCurrentTimestamp())
                begun = i;
        if (begun < 0)
            break;
        if (pass == max_claim_passes)
            refuse_claims_outrun(changed[begun]);
        for (int i = 0; i < changed_count; ++i) {
            const ChangedSchedule& change = changed[i];
            while (claimed_to[i] <= GetCurrentTimestamp()) {
                if (periods_claimed[i] == max_periods_claimed ||
                    periods_begun[i] == max_periods_begun)
                    refuse_claims_outrun(change);
                CHECK_FOR_INTERRUPTS();
                claim_period(change, next[i].start, resources, resource_count);
                make_room_for_item(&claimed, claimed_count, &claimed_capacity, 64,
                                   CurrentMemoryContext);
                claimed[claimed_count++] = ClaimedPeriod{change.tenant_id, next[i].start};
                claimed_to[i] = next[i].start;
                ++periods_claimed[i];
                if (next[i].start > check_began)
                    ++periods_begun[i];
                next[i] = billing_period_containing(change.anchor, &change.interval, next[i].end,
                                                    calendar);
            }
        }
    }
    refuse_committed_later_usage(claimed, claimed_count);
    pfree(claimed);
    pfree(periods_begun);
    pfree(periods_claimed);
    pfree(claimed_to);
    pfree(next);
}

// A prepared change commits whenever COMMIT PREPARED comes, with nothing
// to check it again then: consumers of the tenant's later periods meanwhile
// would land outside the new schedule's periods (a helper's attack, lock
// mode: 10 of 5; shared-memory mode refused such a PREPARE already, for the
// marks of its moves).
[[noreturn]] void refuse_to_prepare(const ChangedSchedule& change)
{
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("cannot PREPARE a transaction that changed a billing schedule"),
             errdetail("The billing schedule of tenant \"%s\" changed in this transaction; "
                       "usage counted in its later periods before COMMIT PREPARED would not be "
                       "checked.",
                       change.tenant_id),
             errhint("Change subscriptions and plans outside the two-phase transaction.")));
    pg_unreachable();
}

void forget_changes()
{
    changed = nullptr;
    changed_count = 0;
    changed_capacity = 0;
}

void on_transaction_event(XactEvent event, void*)
{
    // Not changed_count: a subtransaction's rollback may have emptied the
    // array, which still goes with the transaction's memory.
    if (changed == nullptr)
        return;
    if (event == XACT_EVENT_PRE_PREPARE && changed_count > 0 && billing_extension_installed())
        refuse_to_prepare(changed[0]);
    if (event == XACT_EVENT_PRE_COMMIT) {
        // Dropped after the change, the extension takes the change along.
        if (changed_count > 0 && billing_extension_installed())
            check_again();
        return;
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
        forget_changes();
}

// A rolled-back change is no change: its entries go.  A subtransaction's
// entries are the last ones: those its own subtransactions left were
// handed to it as they committed.
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
        return;
    int first = changed_count;
    while (first > 0 && changed[first - 1].subxact == subxact)
        --first;
    if (event == SUBXACT_EVENT_ABORT_SUB)
        changed_count = first;
    else
        for (int i = first; i < changed_count; ++i)
            changed[i].subxact = parent;
}

// billing._check_change_at_commit(tenant_id, anchor, interval, period_end,
// to): notes a change of the tenant's schedule made by this
// (sub)transaction, from periods of `interval` from `anchor`, whose period
// under them ends at period_end, to a schedule whose period starts at `to`
// (_close_past_periods).
Datum check_change_at_commit_body(FunctionCallInfo fcinfo)
{
    const char* tenant_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
    TimestampTz anchor = PG_GETARG_TIMESTAMPTZ(1);
    const Interval* interval = PG_GETARG_INTERVAL_P(2);
    TimestampTz period_end = PG_GETARG_TIMESTAMPTZ(3);
    TimestampTz to = PG_GETARG_TIMESTAMPTZ(4);
    // Not looked for among those noted already: a tenant changed twice is
    // checked twice, where an edit of a plan's interval over thousands of
    // subscribers would compare each with every other.
    SubTransactionId subxact = GetCurrentSubTransactionId();
    make_room_for_item(&changed, changed_count, &changed_capacity, 16, TopTransactionContext);
    changed[changed_count++] =
        ChangedSchedule{MemoryContextStrdup(TopTransactionContext, tenant_id),
                        anchor,
                        *interval,
                        period_end,
                        to,
                        subxact};
    PG_RETURN_VOID();
}

// billing._refuse_change_after_period_end(tenant_id, resource): usage
// committed in a later period, found by _close_past_periods.
Datum refuse_change_after_period_end_body(FunctionCallInfo fcinfo)
{
    refuse_later_usage(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
                       false);
}

} // namespace

void refuse_usage_past_new_period(const char* tenant_id, const char* resource)
{
    refuse_change(
        tenant_id,
        psprintf("Its period under the new schedule at the transaction's start has ended, "
                 "and usage of resource \"%s\" may have been counted since.",
                 resource),
        "Make the change again in a new transaction.");
}

void register_late_schedule_change_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_check_change_at_commit, zechat::billing::pg::check_change_at_commit_body)
ZB_GUARDED_ENTRY(zb_refuse_change_after_period_end,
                 zechat::billing::pg::refuse_change_after_period_end_body)
}
