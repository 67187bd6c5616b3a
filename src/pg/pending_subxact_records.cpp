// Which entries have state tied to each open subtransaction, so that the
// end of a subtransaction costs what it (and its committed children)
// touched, not every key of the transaction: a transaction that consumed
// for 90,000 keys and then ran 10,000 empty PL/pgSQL EXCEPTION blocks took
// 6 to 12 s walking all of them at each block's end (bench/subxact_ends.sh).
//
// The records and their invariants: core/subxact_records.hpp.  State tied
// to a subtransaction is an entry's SubxactPart, hold_subxact or
// moved_out_subxact; each gets a record when first set in
// a subtransaction other than the top level (note_subxact_state).  The
// records hold entry pointers (dynahash entries do not move), never indexes
// into touched[]; an entry leaving is untracked after its records are gone.
#include "pending_usage_entry.hpp"

#include "growing_array.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

static_assert(TopSubTransactionId == top_subxact && InvalidSubTransactionId == no_subxact,
              "core/subxact_records.hpp names PostgreSQL's subtransaction ids");

namespace {

// In TopMemoryContext.
SubxactRecords<PendingUsage> records{nullptr, 0, 0};

// A transaction whose subtransactions touched this many keys leaves the
// array's memory behind; past it the array is freed at the transaction's
// end (as pending_usage.cpp frees its table).
constexpr int records_keep_limit = 1024;

} // namespace

void make_room_for_subxact_record()
{
    make_room_for_item(&records.records, records.total, &records.capacity, 64, TopMemoryContext);
}

void note_subxact_state(PendingUsage* entry, SubTransactionId subxact)
{
    records.note(entry, subxact);
}

void hand_subxact_to_parent(SubTransactionId subxact, SubTransactionId parent)
{
    records.commit(subxact, parent,
                   [&](PendingUsage* entry) { hand_to_parent(entry, subxact, parent); });
}

void take_back_subxact_of_entries(SubTransactionId subxact)
{
    int leaving = records.abort(subxact, [&](PendingUsage* entry) {
        take_back_subxact(entry, subxact);
        // The key's hold goes with the subtransaction that took it: lock
        // mode's row lock (the next consumption locks and reads it again),
        // and shared-memory mode's pin once nothing else of the transaction
        // is on the key (the next consumption pins it again).
        return entry->hold_subxact == subxact && release_hold_after_rollback(entry);
    });
    if (leaving == 0)
        return;
    // Untracked in the order a walk of touched[] from its start would take
    // them, which keeps that array's order (the commit's, and that of the
    // errors that name its first key) as it was when every end walked all
    // of it.
    remove_in_walk_order(
        &records.records[records.total], leaving,
        [](const PendingUsage* entry) { return entry->touched_index; }, [](int i) { untrack(i); },
        [](int i) { return touched[i]->leaving; }, [] { return touched_count; });
}

void forget_subxact_records()
{
    records.total = 0;
    if (records.capacity > records_keep_limit) {
        pfree(records.records);
        records.records = nullptr;
        records.capacity = 0;
    }
}

} // namespace zechat::billing::pg
