#include "pending_usage_entry.hpp"

#include "absent_moves.hpp"
#include "billing_catalog.hpp"
#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "own_usage_part.hpp"
#include "skippable_updates.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/xact.h"
#include "storage/backendid.h"
#include "utils/inval.h"
}

namespace zechat::billing::pg {

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

void refuse_prepare_with_counters()
{
    for (int i = 0; i < touched_count; ++i) {
        PendingUsage* entry = touched[i];
        // The mark of a move lives in shared memory: a restart or a crash
        // while the transaction is prepared would drop it, and a consumer
        // would then count in the old period what the move, committed
        // later, leaves behind: even a move of no usage is refused (regress
        // `09_two_phase`), as a move of a key without a counter is
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

namespace {

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

// Rounds of writing the usage and recording alerts; far more than any
// chain of alerts can take (each round crosses a threshold of some key).
constexpr int max_commit_rounds = 1000;

} // namespace

// Also records the alert thresholds crossed, and at commit (`notify`)
// notifies them.  At PREPARE (lock mode: shared-memory mode refuses to
// prepare a change) the alerts are recorded without NOTIFY, which a
// prepared transaction cannot send, and commit with COMMIT PREPARED; the
// key's row stays locked until then, so the crossing stands, and the
// thresholds it passes are alerted in that period (regress
// `09_two_phase`).  Crossings are worked out first (lock mode's
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
        bool any_changed = false;
        for (int i = 0; i < touched_count && !any_changed; ++i)
            any_changed = changed_since_crossing(touched[i]);
        if (!any_changed)
            return;
    }
}

} // namespace zechat::billing::pg
