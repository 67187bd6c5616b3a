#include <algorithm>
#include <cstring>

#include "pending_usage.hpp"

#include "../core/counter_table.hpp"
#include "absent_moves.hpp"
#include "admission.hpp"
#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "counter_shmem.hpp"
#include "growing_array.hpp"
#include "insert_confirmation.hpp"
#include "items_by_tenant.hpp"
#include "late_closed_usage.hpp"
#include "own_usage_part.hpp"
#include "refusal.hpp"
#include "skippable_updates.hpp"
#include "uncounted_rows.hpp"
#include "usage_alerts.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/xact.h"
#include "common/int.h"
#include "storage/backendid.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

namespace zechat::billing::pg {

namespace {

struct PendingKey {
    char tenant_id[64];
    char resource[48];
    TimestampTz period_start;
    // The installation of the extension the key's changes were admitted
    // under (its usage table): one dropped, and perhaps created again, in the
    // same transaction is another key, whose changes are not written.
    Oid store;
};

// What one subtransaction did on one key.  A stack per entry, innermost
// subtransaction on top; subtransaction ids only grow, so the top is always
// the most recent.
struct SubxactPart {
    SubTransactionId subxact;
    int64 consumed;
    int64 released;
    int64 drawn; // shared-memory mode: what its releases drew (PendingUsage.drawn)
    SubxactPart* outer;
};

// An empty part of `subxact`, above `outer`, for the transaction's life.
SubxactPart* new_part(SubTransactionId subxact, SubxactPart* outer)
{
    auto* part =
        static_cast<SubxactPart*>(MemoryContextAlloc(TopTransactionContext, sizeof(SubxactPart)));
    part->subxact = subxact;
    part->consumed = 0;
    part->released = 0;
    part->drawn = 0;
    part->outer = outer;
    return part;
}

} // namespace

struct PendingUsage {
    PendingKey key;                // hash key, must be first
    CounterEntry* counter;         // shared-memory mode, once pinned
    int64 base_used;               // lock mode
    SubTransactionId lock_subxact; // lock mode: the subtransaction holding the row lock
    int64 consumed;                // sums of all parts
    int64 released;
    // Shared-memory mode: what its releases drew on committed usage
    // (CounterTable::release), given back to the counter when it ends, or
    // with the part of a subtransaction rolled back: what that part
    // reserved and released goes with it, and what it holds after is what
    // it held when the subtransaction began, which the draw then covered.
    int64 drawn;
    SubxactPart* parts;
    // Usage alerts: the terms of the last consumption (alert_terms_known
    // once there was one), lock mode's usage before this transaction, and
    // what shared-memory mode registered with counter_begin_commit.
    bool alert_terms_known;
    Limit alert_limit;
    // The end of the period consumed in, from the terms of the last
    // consumption (0 without one): whether a schedule change carried that
    // period or closed it (period_differs_now).
    TimestampTz usage_period_end;
    TimestampTz alert_period_start;
    uint64 alert_terms_generation; // tenant_terms_generation() when noted
    // Shared-memory mode: the (sub)transaction that moved the key's usage
    // to another period, marking its counter (counter_move_out), or
    // InvalidSubTransactionId; a move rolled back to a savepoint is undone.
    SubTransactionId moved_out_subxact;
    // Shared-memory mode: the subtransaction of this transaction's first
    // move of the counter's usage, which marked it moved out so that what
    // others have in flight on it counts in the tenant's other periods
    // (undone, as it was before, if that subtransaction rolls back), and
    // this transaction's reservation it left out.
    SubTransactionId carry_subxact;
    CarryUndo carry_undo;
    int64 carry_excluded;
    int64 usage_before;
    // Usage a move by this transaction carried here, which the next
    // crossing leaves out (carry_alerts_to).
    int64 alert_carried;
    int64 committing;
    // Shared-memory mode: what of consumed - released this commit has
    // written to the backend's part already (lock mode folds what it writes
    // into base_used instead), and whether it wrote the part at all.
    int64 written;
    bool part_written;
    // Shared-memory mode: whether this commit passed the counter's move
    // barrier (counter_pass), and the counter's move epoch when this
    // transaction last found its period still the one that counts.
    bool passed;
    uint32 move_epoch_seen;
    uint32 move_epoch_admitted; // see note_admission_epoch
    uint32 crossed;             // at commit: the thresholds crossed, and the usage reached
    int64 used_at_commit;
};

namespace {

// Created once per backend (in TopMemoryContext) and emptied at the end of
// every transaction.  The subtransaction parts live in TopTransactionContext.
HTAB* pending = nullptr;

// The entries of `pending`, in a plain array (TopMemoryContext): the commit
// and subtransaction callbacks walk them several times per transaction, and
// a dynahash scan visits every bucket, about 350 instructions each time for
// a one-key transaction.  Dynahash entries do not move, so the pointers stay
// valid until the entry is removed, which goes through untrack().  A
// transaction that has touched no key has touched_count == 0, and every
// callback returns at once.
PendingUsage** touched = nullptr;
int touched_count = 0;
int touched_capacity = 0;

// touched[0 .. indexed_by_tenant) are in items_by_tenant:
// for_each_pending_of_tenant builds that index when a transaction has
// touched many keys, and adds what it touched since at each call; removing
// an entry (which moves the last one) drops it, to be built anew.
int indexed_by_tenant = 0;

void forget_index_by_tenant()
{
    if (indexed_by_tenant == 0)
        return;
    reset_items_by_tenant();
    indexed_by_tenant = 0;
}

// Room for one more entry, made before the entry is created: once it is in
// the table, recording it in the array must not fail.
void make_room_to_track()
{
    make_room_for_item(&touched, touched_count, &touched_capacity, 16, TopMemoryContext);
}

// Removes touched[i] from the table and the array; the last one takes its
// place, so a walk by index stays at i.
void untrack(int i)
{
    forget_index_by_tenant();
    (void)hash_search(pending, &touched[i]->key, HASH_REMOVE, nullptr);
    touched[i] = touched[--touched_count];
}

// A transaction that touched this many keys (a COPY over many tenants)
// leaves the table's memory behind; past it the table is rebuilt.
constexpr long pending_keep_limit = 1024;

void forget_pending_usage()
{
    if (touched_count == 0)
        return;
    forget_unconfirmed_inserts();
    forget_index_by_tenant();
    if (touched_count > pending_keep_limit) {
        hash_destroy(pending);
        pending = nullptr;
        pfree(touched);
        touched = nullptr;
        touched_count = 0;
        touched_capacity = 0;
        return;
    }
    while (touched_count > 0)
        untrack(touched_count - 1);
}

PendingKey make_key(const QuotaKey& key, TimestampTz period_start)
{
    PendingKey k;
    std::memset(&k, 0, sizeof k);
    std::memcpy(k.tenant_id, key.tenant_id, key.tenant_id_length);
    std::memcpy(k.resource, key.resource, key.resource_length);
    k.period_start = period_start;
    k.store = billing_usage_relation();
    return k;
}

QuotaKey quota_key_of(const PendingUsage* entry)
{
    return QuotaKey{entry->key.tenant_id, static_cast<int>(std::strlen(entry->key.tenant_id)),
                    entry->key.resource, static_cast<int>(std::strlen(entry->key.resource))};
}

// Lock mode keeps only the net of what was consumed and released (on the
// entry, and on each subtransaction's part): the key's usage is base_used
// plus the net, within [0, bigint max] after every change, so the net fits,
// while the two sums apart may not (a transaction giving back the maximum,
// then consuming 1 and giving it back: until 2026-12-04 that failed with
// 22003, though a release never raises usage).  The net is kept as
// consumed or as released, the other 0.
int64 net_change(int64 consumed, int64 released)
{
    return consumed - released;
}

void set_net_change(int64* consumed, int64* released, int64 net)
{
    *consumed = net > 0 ? net : 0;
    *released = net < 0 ? -net : 0;
}

bool has_change(const PendingUsage* entry)
{
    return entry->consumed != 0 || entry->released != 0;
}

// What of the entry's change this commit has not written yet.
int64 unwritten_change(const PendingUsage* entry)
{
    return entry->consumed - entry->released - entry->written;
}

void refuse_prepare_with_counters()
{
    for (int i = 0; i < touched_count; ++i) {
        PendingUsage* entry = touched[i];
        // The mark of a move lives in shared memory: a restart or a crash
        // while the transaction is prepared would drop it, and a consumer
        // would then count in the old period what the move, committed
        // later, leaves behind (until 2026-12-04 a move of no usage was
        // prepared).  Refused as a move of a key without a counter is
        // (absent_moves.cpp).
        if (entry->counter != nullptr && entry->moved_out_subxact != InvalidSubTransactionId)
            refuse_to_prepare_move(psprintf("Tenant %s, resource %s: the move is marked in "
                                            "shared memory, which a prepared transaction does "
                                            "not survive a restart in.",
                                            entry->key.tenant_id, entry->key.resource));
        if (entry->counter != nullptr && has_change(entry)) {
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("cannot PREPARE a transaction that consumed or released quota in "
                            "shared-memory mode"),
                     errdetail("Tenant %s, resource %s has a change in flight; a prepared "
                               "transaction would hold it with no session to settle it.",
                               entry->key.tenant_id, entry->key.resource),
                     errhint("Consume quota outside the two-phase transaction, or run the server "
                             "without zechat_billing in shared_preload_libraries.")));
        }
    }
}

// The usage the change not written yet takes the key from and to, for
// alerts; false when it consumes nothing on balance.  In shared-memory mode
// this places the transaction in the counter's commit order (see
// counter_begin_commit), which settle_counters() ends.  The next round of
// write_pending_usage starts where this one ends.
bool usage_range_of_commit(PendingUsage* entry, int64* before, int64* after)
{
    // Usage carried here by a move is no consumption: the crossing starts
    // above it (the first round only).
    int64 carried = entry->alert_carried;
    entry->alert_carried = 0;
    if (entry->counter != nullptr) {
        int64 net = unwritten_change(entry);
        if (net <= 0)
            return false;
        *before = counter_begin_commit(entry->counter, net);
        entry->committing += net;
        *after = *before + net;
        *before += std::min(carried, net);
        return *after > *before;
    }
    *before = entry->usage_before + carried;
    *after = pending_current_usage(entry);
    entry->usage_before = *after;
    return *after > *before;
}

// A configuration change since the terms of the key's last consumption were
// read (made later in this transaction, a plan change or an override, or
// committed by another) may have changed its limit: the usage that commits
// is measured against the terms it commits under (until 2026-12-04 an
// upgrade in the same transaction still alerted at 80 % of the old limit).
// A tenant no longer active, or a period resource whose period moved (the
// change carried the usage to the new one), alerts on nothing.  A resource
// deleted meanwhile fails the commit (22023, unknown resource), which keeps
// its usage from staying behind under the name.  Before the move barriers
// are passed: reading terms may wait for a lock, and a transaction that
// passed must wait for nothing (counter_shmem.hpp).
void refresh_alert_terms(PendingUsage* entry)
{
    if (!entry->alert_terms_known || entry->alert_terms_generation == tenant_terms_generation())
        return;
    TenantTerms terms = terms_for(quota_key_of(entry));
    bool same_period =
        terms.kind == ResourceKind::gauge || terms.usage_period_start == entry->key.period_start;
    if (terms.subscription != SubscriptionState::active || !same_period) {
        entry->alert_terms_known = false;
        return;
    }
    note_consumption_terms(entry, terms);
}

// The thresholds this transaction crosses on the key (bit i for
// alert_thresholds().percent[i]), and the usage it ends at.
uint32 crossed_thresholds_of(PendingUsage* entry, int64* after)
{
    const AlertThresholds& thresholds = alert_thresholds();
    if (!entry->alert_terms_known || entry->alert_limit.unlimited || thresholds.count == 0)
        return 0;
    int64 before;
    if (!usage_range_of_commit(entry, &before, after))
        return 0;
    return crossed_thresholds(before, *after, entry->alert_limit, thresholds);
}

void record_alerts(PendingUsage* entry, uint32 crossed, int64 used, bool notify)
{
    const AlertThresholds& thresholds = alert_thresholds();
    for (int i = 0; crossed != 0 && i < thresholds.count; ++i) {
        if ((crossed & (1u << i)) != 0)
            record_usage_alert(quota_key_of(entry), thresholds.percent[i],
                               entry->alert_period_start, used, entry->alert_limit.value, notify);
    }
}

// Writes what the keys' changes not written yet add up to.  In lock mode
// the change goes into the writer-0 row and is folded into base_used.
void write_unwritten_changes()
{
    for (int i = 0; i < touched_count; ++i) {
        PendingUsage* entry = touched[i];
        int64 delta = unwritten_change(entry);
        if (delta == 0)
            continue;
        QuotaKey key = quota_key_of(entry);
        if (counter_shmem_available()) {
            // The counter is settled at COMMIT, from consumed and released.
            add_to_own_usage_part(key, entry->key.period_start, MyBackendId, delta,
                                  entry->part_written);
            entry->written += delta;
            entry->part_written = true;
            continue;
        }
        add_usage(key, entry->key.period_start, lock_mode_writer, delta);
        entry->base_used += delta;
        entry->consumed = 0;
        entry->released = 0;
        entry->parts = nullptr;
    }
}

// Changes admitted under an installation of the extension that this
// transaction dropped (and created again) went with its tables: they are
// neither written into the new one nor alerted on.  Counters, kept per
// installation, are still settled.
void forget_changes_of_dropped_installations()
{
    Oid store = billing_usage_relation();
    for (int i = 0; i < touched_count; ++i) {
        PendingUsage* entry = touched[i];
        if (entry->key.store == store)
            continue;
        entry->written = entry->consumed - entry->released;
        entry->alert_terms_known = false;
    }
}

// The entry's change left its counter for good (to a closed period, or to
// another key): its reservation goes back, and nothing is written for it.
// Not passed, so nothing was written yet.
void drop_moved_change(PendingUsage* entry)
{
    counter_settle(entry->counter, entry->consumed, entry->released, false, false, 0, false, 0,
                   entry->drawn);
    entry->consumed = 0;
    entry->released = 0;
    entry->drawn = 0;
    entry->parts = nullptr; // in TopTransactionContext, which goes at the end
    entry->alert_terms_known = false;
}

// The key's counter was marked by a schedule change since this transaction
// last looked (see counter_shmem.hpp): waits for the mover, as lock mode
// waits for the row the mover's carry locked, and reads the tenant's terms
// again.  If the mover closed the key's period (a past one), this
// transaction's change goes with it (late_closed_usage.hpp); if it moved
// the period, the change goes to the period that counts now
// (carry_change_to_period); if neither, the period stands for the mover's
// epoch.  A mover that is this transaction moved its own change along
// already.
void check_period_again(PendingUsage* entry, const CounterMoves& moves)
{
    if (!counter_moved_by_me(moves)) {
        (void)counter_wait_for_mover(moves);
        (void)tenant_terms_may_have_changed(); // takes the mover's invalidations
        QuotaKey key = quota_key_of(entry);
        int64 net = entry->consumed - entry->released;
        // Looked for first: the new schedule may start a period where the
        // closed one started (monthly to yearly), which the check below
        // takes for the period standing.
        if (entry->usage_period_end != 0 &&
            add_to_closed_period(key, entry->key.period_start, entry->usage_period_end, net)) {
            drop_moved_change(entry);
            return;
        }
        TenantTerms now;
        if (period_differs_now(key, entry->key.period_start, entry->usage_period_end, &now)) {
            // Taken to the new period first: until then the mover's carry
            // counts it there (counter_carry_in_flight), and should taking
            // it fail, the abort gives back the reservation here.
            carry_change_to_period(key, now, net);
            drop_moved_change(entry);
            return;
        }
    }
    entry->move_epoch_seen = moves.epoch;
}

// Shared-memory mode, before the changes not written yet are written: each
// of their keys passes its counter's move barrier, or has its period
// checked again (which may move the change to another key, tracked anew
// and checked in turn).
void pass_move_barriers()
{
    for (;;) {
        PendingUsage* stopped = nullptr;
        CounterMoves moves{0, InvalidFullTransactionId};
        for (int i = 0; i < touched_count && stopped == nullptr; ++i) {
            PendingUsage* entry = touched[i];
            if (entry->counter == nullptr || entry->passed || unwritten_change(entry) == 0)
                continue;
            bool passed = counter_pass(entry->counter, entry->move_epoch_seen, &moves);
            // Moved by this transaction itself: nobody to wait for, so no
            // pass to take back first; its move seen, the pass is tried
            // again (check_period_again does no more for it).  Taking back
            // every pass and walking again from the first key for each of
            // them made the commit of a plan's interval edit quadratic in
            // its subscribers (4,000: 9 s; a helper's hunt of 2026-12-05).
            if (!passed && counter_moved_by_me(moves)) {
                entry->move_epoch_seen = moves.epoch;
                passed = counter_pass(entry->counter, entry->move_epoch_seen, &moves);
            }
            if (passed)
                entry->passed = true;
            else
                stopped = entry;
        }
        if (stopped == nullptr)
            return;
        // A mover waits for every pass to settle: the passes of this walk,
        // not followed by a write yet, are taken back before this
        // transaction waits for a mover, so that no mover waits for it.
        for (int i = 0; i < touched_count; ++i) {
            PendingUsage* entry = touched[i];
            if (entry->passed && !entry->part_written) {
                counter_unpass(entry->counter);
                entry->passed = false;
            }
        }
        check_period_again(stopped, moves);
    }
}

// Rounds of writing the usage and recording alerts; far more than any
// chain of alerts can take (each round crosses a threshold of some key).
constexpr int max_commit_rounds = 1000;

// Also records the alert thresholds crossed, and at commit (`notify`)
// notifies them.  At PREPARE (lock mode: shared-memory mode refuses to
// prepare a change) the alerts are recorded without NOTIFY, which a
// prepared transaction cannot send, and commit with COMMIT PREPARED; the
// key's row stays locked until then, so the crossing stands (until
// 2026-12-05 none was recorded, and the thresholds it passed were never
// alerted in that period).  Crossings are worked out first (lock mode's
// write below folds the counts they are computed from), and recorded last,
// once every key's usage is written, so that no SQL runs while the keys are
// walked.
// Recording an alert runs SQL, and so the triggers of billing.alerts, which
// may consume again (a message to the tenant, into an enforced table): the
// entries then have changes not written yet, or new keys are touched, and
// another round writes them and records the alerts they cross.
void write_pending_usage(bool notify)
{
    // DROP EXTENSION later in the same transaction took the table with it;
    // one committed by another session before this transaction's first
    // admission is seen here (after it, it waits for this transaction: see
    // track_counter_usage, and lock mode's row lock).
    AcceptInvalidationMessages();
    if (!billing_extension_installed())
        return;
    forget_changes_of_dropped_installations();
    for (int round = 0;; ++round) {
        if (round == max_commit_rounds)
            ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                            errmsg("usage alerts kept consuming quota at commit"),
                            errdetail("A trigger on billing.alerts consumes quota that crosses "
                                      "another threshold, %d times over.",
                                      max_commit_rounds)));
        // Rows counted by an INSERT trigger and then not written (ON
        // CONFLICT) are not paid for; in later rounds, such rows inserted
        // by triggers on billing.alerts.  Updates are settled as their
        // statements end: none is left here but in error.
        take_back_unwritten_inserts();
        settle_updates_deeper_than(0);
        for (int i = 0; i < touched_count; ++i)
            refresh_alert_terms(touched[i]);
        if (counter_shmem_available())
            pass_move_barriers();
        bool any_crossed = false;
        for (int i = 0; i < touched_count; ++i) {
            PendingUsage* entry = touched[i];
            entry->crossed = crossed_thresholds_of(entry, &entry->used_at_commit);
            any_crossed = any_crossed || entry->crossed != 0;
        }
        write_unwritten_changes();
        if (!any_crossed)
            return;
        // SQL runs here; should it touch a key, the entry is appended to
        // touched, which this walk by index survives.
        for (int i = 0; i < touched_count; ++i)
            if (touched[i]->crossed != 0)
                record_alerts(touched[i], touched[i]->crossed, touched[i]->used_at_commit, notify);
        bool any_unwritten = false;
        for (int i = 0; i < touched_count && !any_unwritten; ++i)
            any_unwritten = unwritten_change(touched[i]) != 0;
        if (!any_unwritten)
            return;
    }
}

// The move that carried the entry's counter rolled back: so does the carry
// (carry_counter_in_flight).  Never raises.
void undo_carry(PendingUsage* entry)
{
    if (entry->carry_subxact == InvalidSubTransactionId)
        return;
    counter_undo_carry(entry->counter, entry->carry_undo);
    entry->carry_subxact = InvalidSubTransactionId;
    entry->carry_excluded = 0;
}

// COMMIT, ABORT or PREPARE: every pinned counter gets this transaction's
// part (or nothing) and its pin back.  Never raises.
void settle_counters(bool commit)
{
    for (int i = 0; i < touched_count; ++i)
        if (PendingUsage* entry = touched[i]; entry->counter != nullptr) {
            if (!commit)
                undo_carry(entry);
            counter_settle(entry->counter, entry->consumed, entry->released, commit, true,
                           entry->committing, entry->passed, entry->carry_excluded, entry->drawn);
        }
}

// A transaction made read-only after it consumed or released quota (SET
// transaction_read_only = on, which PostgreSQL allows midway) cannot write
// at commit what it changed, nor the alerts: it is refused here, in both
// modes alike, even when it gave back what it took, rather than fail in the
// extension's own UPDATE with its SQL in the message (shared-memory mode
// did, for one consumption; lock mode, which writes a key's first
// consumption at once, committed that one).
void refuse_read_only_commit()
{
    if (!XactReadOnly)
        return;
    for (int i = 0; i < touched_count; ++i) {
        PendingUsage* entry = touched[i];
        // Lock mode writes a key's first consumption at once, into the
        // usage it started from.
        bool changed = has_change(entry) || (entry->counter == nullptr &&
                                             pending_current_usage(entry) != entry->usage_before);
        if (changed)
            ereport(ERROR,
                    (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                     errmsg("cannot commit quota consumed or released before the transaction "
                            "was made read-only"),
                     errdetail("Tenant %s, resource %s: the usage is written when the "
                               "transaction commits.",
                               entry->key.tenant_id, entry->key.resource),
                     errhint("Make the transaction read-only before it consumes, or not at "
                             "all.")));
    }
}

void on_transaction_event(XactEvent event, void*)
{
    if (touched_count == 0) {
        // Nothing counted, so no row is left to confirm either; should one
        // ever be, it still must not reach the next transaction.
        if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
            event == XACT_EVENT_PREPARE) {
            end_own_usage_part_writes(event == XACT_EVENT_COMMIT);
            forget_unconfirmed_inserts();
            forget_uncounted_rows();
            forget_held_updates();
        }
        return;
    }
    switch (event) {
    case XACT_EVENT_PRE_COMMIT: {
        // Still inside the transaction: an error here aborts it, as it must.
        // What the writes allocate goes with the transaction: the caller's
        // memory is a procedure's own when it COMMITs, which lives until its
        // CALL ends (until 2026-12-05 a procedure committing in a loop grew
        // by about 100 bytes, and up to 1.6 kB, per commit in shared-memory
        // mode).
        MemoryContext caller = MemoryContextSwitchTo(TopTransactionContext);
        refuse_read_only_commit();
        write_pending_usage(true);
        MemoryContextSwitchTo(caller);
        break;
    }
    case XACT_EVENT_PRE_PREPARE: {
        MemoryContext caller = MemoryContextSwitchTo(TopTransactionContext);
        // First: a skipped row's reservation is no change to hold.
        take_back_unwritten_inserts();
        settle_updates_deeper_than(0);
        refuse_read_only_commit();
        refuse_prepare_with_counters();
        write_pending_usage(false);
        MemoryContextSwitchTo(caller);
        break;
    }
    case XACT_EVENT_COMMIT:
        settle_counters(true);
        end_own_usage_part_writes(true);
        forget_pending_usage();
        forget_uncounted_rows();
        forget_held_updates();
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PREPARE: // nothing pending on counters (refused otherwise)
        settle_counters(false);
        end_own_usage_part_writes(false);
        forget_pending_usage();
        forget_uncounted_rows();
        forget_held_updates();
        break;
    default:
        break;
    }
}

void take_back_subxact(PendingUsage* entry, SubTransactionId subxact)
{
    if (entry->moved_out_subxact == subxact)
        entry->moved_out_subxact = InvalidSubTransactionId;
    if (entry->carry_subxact == subxact)
        undo_carry(entry);
    while (entry->parts != nullptr && entry->parts->subxact == subxact) {
        SubxactPart* part = entry->parts;
        if (entry->counter != nullptr) {
            // What this transaction's carry left out as its own can be no
            // more than what it still holds reserved (until 2026-12-05 a
            // move rolled back to a savepoint left it larger, and others'
            // reservations on the counter stopped counting).
            int64 still_consumed = entry->consumed - part->consumed;
            int64 excluded_less =
                entry->carry_excluded > still_consumed ? entry->carry_excluded - still_consumed : 0;
            counter_settle(entry->counter, part->consumed, part->released, false, false, 0, false,
                           excluded_less, part->drawn);
            entry->carry_excluded -= excluded_less;
            entry->consumed -= part->consumed;
            entry->released -= part->released;
            entry->drawn -= part->drawn;
        } else {
            // Lock mode: the net left is that of the changes before this
            // part, within the bigint range.
            set_net_change(&entry->consumed, &entry->released,
                           net_change(entry->consumed, entry->released) -
                               net_change(part->consumed, part->released));
        }
        entry->parts = part->outer;
        pfree(part);
    }
}

void hand_to_parent(PendingUsage* entry, SubTransactionId subxact, SubTransactionId parent)
{
    SubxactPart* top = entry->parts;
    if (top != nullptr && top->subxact == subxact) {
        if (top->outer != nullptr && top->outer->subxact == parent) {
            SubxactPart* outer = top->outer;
            if (entry->counter != nullptr) {
                outer->consumed += top->consumed;
                outer->released += top->released;
                outer->drawn += top->drawn;
            } else {
                // Lock mode: the nets of two parts one after the other.
                set_net_change(&outer->consumed, &outer->released,
                               net_change(outer->consumed, outer->released) +
                                   net_change(top->consumed, top->released));
            }
            entry->parts = outer;
            pfree(top);
        } else {
            top->subxact = parent;
        }
    }
    if (entry->lock_subxact == subxact)
        entry->lock_subxact = parent;
    if (entry->moved_out_subxact == subxact)
        entry->moved_out_subxact = parent;
    if (entry->carry_subxact == subxact)
        entry->carry_subxact = parent;
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (event == SUBXACT_EVENT_ABORT_SUB)
        forget_own_usage_part_writes_of(subxact);
    if (touched_count == 0)
        return;
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
        return;
    // First: an aborted subtransaction's unconfirmed rows point at entries
    // the loop below may untrack.
    unconfirmed_inserts_at_subxact_end(event == SUBXACT_EVENT_COMMIT_SUB, subxact, parent);
    for (int i = 0; i < touched_count;) {
        PendingUsage* entry = touched[i];
        if (event == SUBXACT_EVENT_COMMIT_SUB) {
            hand_to_parent(entry, subxact, parent);
            ++i;
            continue;
        }
        take_back_subxact(entry, subxact);
        // Lock mode: the row lock goes with the aborted subtransaction:
        // forget the key, the next consumption locks and reads it again.
        // (A pinned counter stays pinned until the transaction ends.)
        if (!counter_shmem_available() && entry->lock_subxact == subxact)
            untrack(i);
        else
            ++i;
    }
}

PendingUsage* enter_pending_usage(const QuotaKey& key, TimestampTz period_start, bool* found)
{
    if (pending == nullptr) {
        pending = create_backend_hash("zechat_billing pending usage", 64, sizeof(PendingKey),
                                      sizeof(PendingUsage), TopMemoryContext);
    }
    PendingKey k = make_key(key, period_start);
    make_room_to_track();
    auto* entry = static_cast<PendingUsage*>(hash_search(pending, &k, HASH_ENTER, found));
    if (!*found) {
        touched[touched_count++] = entry;
        entry->counter = nullptr;
        entry->base_used = 0;
        entry->lock_subxact = GetCurrentSubTransactionId();
        entry->consumed = 0;
        entry->released = 0;
        entry->drawn = 0;
        entry->parts = nullptr;
        entry->alert_terms_known = false;
        entry->alert_limit = Limit::none();
        entry->usage_period_end = 0;
        entry->alert_period_start = 0;
        entry->alert_terms_generation = 0;
        entry->moved_out_subxact = InvalidSubTransactionId;
        entry->carry_subxact = InvalidSubTransactionId;
        entry->carry_excluded = 0;
        entry->usage_before = 0;
        entry->alert_carried = 0;
        entry->committing = 0;
        entry->written = 0;
        entry->part_written = false;
        entry->passed = false;
        entry->move_epoch_seen = 0;
        entry->move_epoch_admitted = 0;
        entry->crossed = 0;
        entry->used_at_commit = 0;
    }
    return entry;
}

} // namespace

PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start)
{
    if (touched_count == 0)
        return nullptr;
    PendingKey k = make_key(key, period_start);
    return static_cast<PendingUsage*>(hash_search(pending, &k, HASH_FIND, nullptr));
}

PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used,
                                  int64 already_added)
{
    bool found;
    PendingUsage* entry = enter_pending_usage(key, period_start, &found);
    if (!found) {
        entry->base_used = base_used;
        entry->usage_before = base_used - already_added;
    }
    return entry;
}

AlertCarry alert_carry_of(const PendingUsage* from, int64 moved)
{
    if (from == nullptr || !from->alert_terms_known || moved <= 0)
        return AlertCarry{false, 0};
    int64 own = from->counter != nullptr ? from->consumed - from->released
                                         : pending_current_usage(from) - from->usage_before;
    own = std::clamp<int64>(own, 0, moved);
    return AlertCarry{own > 0, moved - own};
}

void carry_alerts_to(PendingUsage* to, const AlertCarry& carry)
{
    if (to == nullptr || !carry.consumed_here)
        return;
    // The terms are read again at commit (refresh_alert_terms), under which
    // the new period must be the one that counts.
    to->alert_terms_known = true;
    to->alert_terms_generation = PG_UINT64_MAX;
    to->alert_carried += carry.carried;
}

void note_consumption_terms(PendingUsage* entry, const TenantTerms& terms)
{
    entry->alert_terms_known = true;
    entry->alert_limit = terms.limit;
    entry->usage_period_end = terms.period_end;
    entry->alert_period_start = terms.billing_period_start;
    entry->alert_terms_generation = terms.generation;
}

PendingUsage* track_counter_usage(const QuotaKey& key, TimestampTz period_start)
{
    bool found;
    PendingUsage* entry = enter_pending_usage(key, period_start, &found);
    // Entered before pinning, so that a pin is never left without an entry
    // to give it back; if pinning fails the entry stays without a counter
    // and the next call tries again.
    if (entry->counter == nullptr) {
        // Held to the end of the transaction, as the commit's write of the
        // part takes it: an ALTER, a rewrite or a DROP EXTENSION of the
        // table waits for this transaction, as for lock mode's, instead of
        // taking the table away from under its commit.
        lock_usage_parts_for_writing();
        entry->counter = pin_counter(key, period_start);
    }
    return entry;
}

bool pending_passed(const PendingUsage* entry)
{
    return entry->passed;
}

void note_admission_epoch(PendingUsage* entry, uint32 epoch)
{
    entry->move_epoch_admitted = epoch;
}

void confirm_admission_period(PendingUsage* entry)
{
    if (entry->counter != nullptr && entry->move_epoch_admitted != 0)
        entry->move_epoch_seen = entry->move_epoch_admitted;
}

void move_counter_usage_out(PendingUsage* entry)
{
    if (entry->moved_out_subxact == InvalidSubTransactionId)
        entry->moved_out_subxact = GetCurrentSubTransactionId();
    counter_move_out(entry->counter, quota_key_of(entry), entry->key.period_start, entry->passed);
}

void carry_counter_in_flight(PendingUsage* from, TimestampTz to)
{
    CarryUndo undo;
    counter_carry_in_flight(quota_key_of(from), from->counter, to, from->consumed, &undo);
    // A later move of the same counter in this transaction (back and forth)
    // stands or goes with the first one, which undo restores from.
    if (from->carry_subxact == InvalidSubTransactionId) {
        from->carry_subxact = GetCurrentSubTransactionId();
        from->carry_undo = undo;
    }
    from->carry_excluded = from->consumed;
}

CounterEntry* pending_counter(const PendingUsage* entry)
{
    return entry->counter;
}

QuotaKey pending_quota_key(const PendingUsage* entry)
{
    return quota_key_of(entry);
}

int64 pending_current_usage(const PendingUsage* entry)
{
    return entry->base_used + entry->consumed - entry->released;
}

int64 pending_consumed(const PendingUsage* entry)
{
    return entry->consumed;
}

int64 pending_released(const PendingUsage* entry)
{
    return entry->released;
}

int64 pending_drawn(const PendingUsage* entry)
{
    return entry->drawn;
}

void prepare_pending_change(PendingUsage* entry)
{
    SubTransactionId current = GetCurrentSubTransactionId();
    if (entry->parts != nullptr && entry->parts->subxact == current)
        return;
    entry->parts = new_part(current, entry->parts);
}

void record_pending_change(PendingUsage* entry, int64 consumed, int64 released, int64 drawn_more)
{
    // prepare_pending_change() put the current subtransaction's part on top.
    // The draw first: the counter holds it already, and it must go back.
    entry->parts->drawn += drawn_more;
    entry->drawn += drawn_more;
    // A part's sums are at most the entry's, which shared-memory mode keeps
    // at most what the counter holds in flight (reserve() and force() keep
    // it within the bigint range); checked all the same, and nothing is
    // recorded when they do not fit.
    int64 consumed_sum, released_sum;
    if (pg_add_s64_overflow(entry->consumed, consumed, &consumed_sum) ||
        pg_add_s64_overflow(entry->released, released, &released_sum))
        report_past_bigint(entry->key.resource, entry->key.tenant_id);
    entry->parts->consumed += consumed;
    entry->parts->released += released;
    entry->consumed = consumed_sum;
    entry->released = released_sum;
}

void add_pending_usage(PendingUsage* entry, int64 delta)
{
    prepare_pending_change(entry);
    // Lock mode: nets (see net_change), which fit while usage does.
    int64 net, part_net;
    if (pg_add_s64_overflow(net_change(entry->consumed, entry->released), delta, &net) ||
        pg_add_s64_overflow(net_change(entry->parts->consumed, entry->parts->released), delta,
                            &part_net))
        report_past_bigint(entry->key.resource, entry->key.tenant_id);
    set_net_change(&entry->consumed, &entry->released, net);
    set_net_change(&entry->parts->consumed, &entry->parts->released, part_net);
}

namespace {

// The part of `subxact` in the entry's stack (innermost on top, ids
// decreasing downwards), made in its place if the subtransaction has none.
SubxactPart* part_of_subxact(PendingUsage* entry, SubTransactionId subxact)
{
    SubxactPart** link = &entry->parts;
    while (*link != nullptr && (*link)->subxact > subxact)
        link = &(*link)->outer;
    if (*link != nullptr && (*link)->subxact == subxact)
        return *link;
    *link = new_part(subxact, *link);
    return *link;
}

} // namespace

void take_back_consumption(PendingUsage* entry, SubTransactionId subxact, int64 amount)
{
    SubxactPart* part = part_of_subxact(entry, subxact);
    if (entry->counter != nullptr) {
        // The reservation goes as an aborted subtransaction's would.
        part->consumed -= amount;
        entry->consumed -= amount;
        counter_settle(entry->counter, amount, 0, false, false);
        return;
    }
    // Lock mode: the key's first admission is in base_used, already written
    // to its row; a release in the part takes any amount back at commit.
    set_net_change(&part->consumed, &part->released,
                   net_change(part->consumed, part->released) - amount);
    set_net_change(&entry->consumed, &entry->released,
                   net_change(entry->consumed, entry->released) - amount);
}

void for_each_pending_of_tenant(const char* tenant_id,
                                void (*fn)(const char* resource, TimestampTz period_start,
                                           int64 delta, void* arg),
                                void* arg)
{
    // Few keys: walked.  Many: through the index by tenant, which a change
    // of a plan's interval needs, asking for each subscriber in turn while
    // it adds the keys of each (walking them all made it quadratic).
    constexpr int walk_below = 64;
    auto report = [&](const PendingUsage* entry) {
        int64 delta = entry->consumed - entry->released;
        if (delta != 0)
            fn(entry->key.resource, entry->key.period_start, delta, arg);
    };
    if (touched_count < walk_below) {
        for (int i = 0; i < touched_count; ++i)
            if (std::strcmp(touched[i]->key.tenant_id, tenant_id) == 0)
                report(touched[i]);
        return;
    }
    for (; indexed_by_tenant < touched_count; ++indexed_by_tenant)
        add_item_of_tenant(touched[indexed_by_tenant]->key.tenant_id, touched[indexed_by_tenant]);
    void* const* items;
    int count = items_of_tenant(tenant_id, &items);
    for (int i = 0; i < count; ++i)
        report(static_cast<const PendingUsage*>(items[i]));
}

void for_each_pending(void (*fn)(const char* tenant_id, const char* resource,
                                 TimestampTz period_start, int64 delta, void* arg),
                      void* arg)
{
    for (int i = 0; i < touched_count; ++i) {
        const PendingUsage* entry = touched[i];
        int64 delta = entry->consumed - entry->released;
        if (delta != 0)
            fn(entry->key.tenant_id, entry->key.resource, entry->key.period_start, delta, arg);
    }
}

void register_pending_usage_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg
