// Which entries have state tied to each open subtransaction, so that the
// end of a subtransaction costs what it (and its committed children)
// touched, not every key of the transaction: a transaction that consumed
// for 90,000 keys and then ran 10,000 empty PL/pgSQL EXCEPTION blocks took
// 11.7 s walking all of them at each block's end (bench/subxact_ends.sh).
//
// The records: (subtransaction, entry) pairs in an array in TopMemoryContext,
// ordered by subtransaction id.  State tied to a subtransaction is an entry's
// SubxactPart, hold_subxact, moved_out_subxact or carry_subxact; each gets a
// record when first set in a subtransaction other than the top level (which
// never ends as a subtransaction): note_subxact_state.  Invariants:
//
// - Every entry with state tied to an open subtransaction S other than the
//   top level has one record (S, entry), and only one.  A record may
//   outlive its state (the commit's write of lock mode, or a move, drops
//   parts): its end then finds nothing to do on the entry.
// - Records name open subtransactions only: at the end of S, S is the
//   newest open one (its children ended first), so its records are the
//   trailing ones; they are relabelled to the parent at commit (dropped
//   where the entry has one of the parent's already, or when the parent is
//   the top level) and dropped at abort.  A record for the current
//   subtransaction is therefore always pushed on top; one for an older open
//   subtransaction (take_back_consumption of an unconfirmed row counted
//   there) is put in its place.
// - An entry's records, oldest to newest, are chained by `entry_older`, the
//   newest named by the entry's newest_record: whether an entry already has
//   a record of the current subtransaction, or of the parent a committing
//   subtransaction hands it to, is one comparison.
// - Records hold entry pointers (dynahash entries do not move), never
//   indexes into touched[]: an entry leaving is untracked after its records
//   are gone.
#include <algorithm>
#include <cstring>

#include "pending_usage_entry.hpp"

#include "growing_array.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
}

namespace zechat::billing::pg {

namespace {

struct SubxactRecord {
    PendingUsage* entry;
    SubTransactionId subxact;
    SubTransactionId entry_older; // the entry's next older record, or InvalidSubTransactionId
};

SubxactRecord* records = nullptr;
int record_total = 0;
int record_capacity = 0;

// A transaction whose subtransactions touched this many keys leaves the
// array's memory behind; past it the array is freed at the transaction's
// end (as pending_usage.cpp frees its table).
constexpr int records_keep_limit = 1024;

// The first of the trailing records of `subxact` (and of any newer one).
int first_record_of(SubTransactionId subxact)
{
    int first = record_total;
    while (first > 0 && records[first - 1].subxact >= subxact)
        --first;
    return first;
}

// Rare: a record of an open subtransaction older than the newest record,
// put in its place in the order.
void insert_older_record(PendingUsage* entry, SubTransactionId subxact)
{
    int at = record_total;
    int entry_newer = -1; // the entry's oldest record newer than subxact
    while (at > 0 && records[at - 1].subxact > subxact) {
        --at;
        if (records[at].entry == entry)
            entry_newer = at;
    }
    for (int i = at; i > 0 && records[i - 1].subxact == subxact; --i)
        if (records[i - 1].entry == entry)
            return;
    SubxactRecord record{entry, subxact, InvalidSubTransactionId};
    if (entry_newer >= 0) {
        record.entry_older = records[entry_newer].entry_older;
        records[entry_newer].entry_older = subxact;
    } else {
        record.entry_older = entry->newest_record;
        entry->newest_record = subxact;
    }
    std::memmove(&records[at + 1], &records[at],
                 sizeof(SubxactRecord) * static_cast<Size>(record_total - at));
    records[at] = record;
    ++record_total;
    ++entry->record_count;
}

// Removes the records of the entries leaving below `end`, and returns how
// many went.
int drop_records_of_leaving(int end)
{
    int kept = 0;
    for (int i = 0; i < end; ++i)
        if (!records[i].entry->leaving)
            records[kept++] = records[i];
    return end - kept;
}

} // namespace

void make_room_for_subxact_record()
{
    make_room_for_item(&records, record_total, &record_capacity, 64, TopMemoryContext);
}

void note_subxact_state(PendingUsage* entry, SubTransactionId subxact)
{
    if (subxact == TopSubTransactionId || entry->newest_record == subxact)
        return;
    if (record_total > 0 && records[record_total - 1].subxact > subxact) {
        insert_older_record(entry, subxact);
        return;
    }
    records[record_total++] = SubxactRecord{entry, subxact, entry->newest_record};
    entry->newest_record = subxact;
    ++entry->record_count;
}

void hand_subxact_to_parent(SubTransactionId subxact, SubTransactionId parent)
{
    int first = first_record_of(subxact);
    int kept = first;
    for (int i = first; i < record_total; ++i) {
        SubxactRecord record = records[i];
        PendingUsage* entry = record.entry;
        hand_to_parent(entry, subxact, parent);
        if (parent == TopSubTransactionId || record.entry_older == parent) {
            // The top level needs no record; the parent's is below.
            entry->newest_record = record.entry_older;
            --entry->record_count;
            continue;
        }
        record.subxact = parent;
        entry->newest_record = parent;
        records[kept++] = record;
    }
    record_total = kept;
}

void take_back_subxact_of_entries(SubTransactionId subxact)
{
    int first = first_record_of(subxact);
    // Each entry's part is taken back; the records of the entries that
    // leave are gathered at the start of the trailing ones.
    int leaving = 0;
    bool older_records_leave = false;
    for (int i = first; i < record_total; ++i) {
        SubxactRecord record = records[i];
        PendingUsage* entry = record.entry;
        take_back_subxact(entry, subxact);
        entry->newest_record = record.entry_older;
        --entry->record_count;
        // The key's hold goes with the subtransaction that took it: lock
        // mode's row lock (the next consumption locks and reads it again),
        // and shared-memory mode's pin once nothing else of the transaction
        // is on the key (the next consumption pins it again).
        if (entry->hold_subxact == subxact && release_hold_after_rollback(entry)) {
            entry->leaving = true;
            older_records_leave = older_records_leave || entry->record_count > 0;
            records[first + leaving++] = record;
        }
    }
    // Rare: an entry leaving with records of older subtransactions (an
    // unconfirmed row's take-back there, or a pin tried again after one
    // failed).
    if (older_records_leave) {
        int dropped = drop_records_of_leaving(first);
        std::memmove(&records[first - dropped], &records[first],
                     sizeof(SubxactRecord) * static_cast<Size>(leaving));
        first -= dropped;
    }
    record_total = first;
    if (leaving == 0)
        return;
    // Untracked in the order a walk of touched[] from its start would take
    // them, which keeps that array's order (the commit's, and the errors'
    // that name its first key) as it was when every end walked all of it:
    // by place, and an entry leaving that untrack() moves into the place
    // just emptied goes next.  Such an entry was the last of touched[],
    // so it is the one with the highest place of those left.
    SubxactRecord* leave = &records[first];
    std::sort(leave, leave + leaving, [](const SubxactRecord& a, const SubxactRecord& b) {
        return a.entry->touched_index < b.entry->touched_index;
    });
    int low = 0;
    int high = leaving - 1;
    while (low <= high) {
        int i = leave[low++].entry->touched_index;
        untrack(i);
        while (i < touched_count && touched[i]->leaving) {
            --high; // touched[i] is leave[high].entry
            untrack(i);
        }
    }
}

void forget_subxact_records()
{
    record_total = 0;
    if (record_capacity > records_keep_limit) {
        pfree(records);
        records = nullptr;
        record_capacity = 0;
    }
}

} // namespace zechat::billing::pg
