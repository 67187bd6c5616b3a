#include "pending_usage_callbacks.hpp"
#include "pending_usage_entry.hpp"

#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "own_usage_part.hpp"
#include "skippable_updates.hpp"
#include "uncounted_rows.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

void on_transaction_event(XactEvent event, void*)
{
    if (touched_count == 0) {
        // Nothing counted, so no row is left to confirm either; should one
        // ever be, it still must not reach the next transaction.
        if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
            event == XACT_EVENT_PREPARE) {
            end_own_usage_part_writes(event == XACT_EVENT_COMMIT);
            forget_subxact_records(); // none left, but perhaps their memory
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
        // CALL ends, and a procedure committing in a loop would grow with
        // every commit (tests/scripts/backend_memory_bounded.sh).
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
    // its end below may untrack.
    unconfirmed_inserts_at_subxact_end(event == SUBXACT_EVENT_COMMIT_SUB, subxact, parent);
    // Only the entries with state of this subtransaction, not every key the
    // transaction touched (pending_subxact_records.cpp).
    if (event == SUBXACT_EVENT_COMMIT_SUB)
        hand_subxact_to_parent(subxact, parent);
    else
        take_back_subxact_of_entries(subxact);
}

} // namespace

void register_pending_usage_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg
