// Which items have state tied to each open subtransaction, so that the end
// of a subtransaction visits the items it touched, not every item of the
// transaction (src/pg/pending_subxact_records.cpp keeps one for the pending
// usage entries).
//
// Records are (subtransaction, item) pairs in an array ordered by
// subtransaction id, which the caller grows (make room before the state is
// set: note() itself never fails).  Invariants, for subtransaction ids as
// PostgreSQL hands them out (growing, the top level 1, none 0):
//
// - An item with state tied to an open subtransaction S other than the top
//   level has one record (S, item), and only one.  The top level needs none:
//   it never ends as a subtransaction.  A record may outlive its state: the
//   end then finds nothing to do on the item.
// - Records name open subtransactions only: at the end of S, S is the newest
//   open one (its children ended first), so its records are the trailing
//   ones; they are relabelled to the parent at commit (dropped where the item
//   has one of the parent's already, or when the parent is the top level),
//   and dropped at abort.  A record for the current subtransaction is pushed
//   on top; one for an older open subtransaction is put in its place (rare).
// - An item's records, oldest to newest, are chained by `item_older`; the
//   newest is named in the item's SubxactMarks: whether an item has a record
//   of the current subtransaction, or of the parent a committing one hands it
//   to, is one comparison.
//
// Plain old data and noexcept; Item has a member `SubxactMarks subxact_marks`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace zechat::billing {

constexpr uint32_t no_subxact = 0;  // PostgreSQL's InvalidSubTransactionId
constexpr uint32_t top_subxact = 1; // PostgreSQL's TopSubTransactionId

// An item's side of its records.
struct SubxactMarks {
    uint32_t newest; // the subtransaction of its newest record, or no_subxact
    int32_t count;   // how many records it has
};

template <typename Item> struct SubxactRecord {
    Item* item;
    uint32_t subxact;
    uint32_t item_older; // the item's next older record's subtransaction, or no_subxact
};

template <typename Item> struct SubxactRecords {
    using Record = SubxactRecord<Item>;

    // The caller's array: `capacity` records, `total` used.
    Record* records;
    int total;
    int capacity;

    // Whether note() may need room the array does not have.
    bool full() const noexcept { return total == capacity; }

    // The item has state tied to `subxact` (open): one record per item and
    // subtransaction.  Needs room unless the item has that record already.
    void note(Item* item, uint32_t subxact) noexcept
    {
        SubxactMarks& marks = item->subxact_marks;
        if (subxact == top_subxact || marks.newest == subxact)
            return;
        if (total > 0 && records[total - 1].subxact > subxact) {
            note_older(item, subxact);
            return;
        }
        records[total++] = Record{item, subxact, marks.newest};
        marks.newest = subxact;
        ++marks.count;
    }

    // `subxact` committed into `parent`: hand(item) for each item with a
    // record of it, whose record goes to the parent.
    template <typename Hand> void commit(uint32_t subxact, uint32_t parent, Hand&& hand) noexcept
    {
        int first = first_of(subxact);
        int kept = first;
        for (int i = first; i < total; ++i) {
            Record record = records[i];
            SubxactMarks& marks = record.item->subxact_marks;
            hand(record.item);
            if (parent == top_subxact || record.item_older == parent) {
                marks.newest = record.item_older;
                --marks.count;
                continue;
            }
            record.subxact = parent;
            marks.newest = parent;
            records[kept++] = record;
        }
        total = kept;
    }

    // `subxact` rolled back: take_back(item) for each item with a record of
    // it, true when the item is to be forgotten.  Their records, and any the
    // leaving items have of older subtransactions, go; the leaving items are
    // returned, at records[total .. total + returned), valid until the next
    // note().  Each has its `leaving` member set (until the caller forgets
    // it): the caller's item has a `bool leaving`, false otherwise.
    template <typename TakeBack> int abort(uint32_t subxact, TakeBack&& take_back) noexcept
    {
        int first = first_of(subxact);
        int leaving = 0;
        bool older_records_leave = false;
        for (int i = first; i < total; ++i) {
            Record record = records[i];
            SubxactMarks& marks = record.item->subxact_marks;
            bool leaves = take_back(record.item);
            marks.newest = record.item_older;
            --marks.count;
            if (leaves) {
                record.item->leaving = true;
                older_records_leave = older_records_leave || marks.count > 0;
                records[first + leaving++] = record;
            }
        }
        if (older_records_leave) {
            // Rare: a leaving item with records of older subtransactions.
            int kept = 0;
            for (int i = 0; i < first; ++i)
                if (!records[i].item->leaving)
                    records[kept++] = records[i];
            std::memmove(static_cast<void*>(&records[kept]), &records[first],
                         sizeof(Record) * static_cast<std::size_t>(leaving));
            first = kept;
        }
        total = first;
        return leaving;
    }

private:
    // The first of the trailing records of `subxact` (and of any newer one).
    int first_of(uint32_t subxact) const noexcept
    {
        int first = total;
        while (first > 0 && records[first - 1].subxact >= subxact)
            --first;
        return first;
    }

    void note_older(Item* item, uint32_t subxact) noexcept
    {
        int at = total;
        int item_newer = -1; // the item's oldest record newer than subxact
        while (at > 0 && records[at - 1].subxact > subxact) {
            --at;
            if (records[at].item == item)
                item_newer = at;
        }
        for (int i = at; i > 0 && records[i - 1].subxact == subxact; --i)
            if (records[i - 1].item == item)
                return;
        Record record{item, subxact, no_subxact};
        if (item_newer >= 0) {
            record.item_older = records[item_newer].item_older;
            records[item_newer].item_older = subxact;
        } else {
            record.item_older = item->subxact_marks.newest;
            item->subxact_marks.newest = subxact;
        }
        std::memmove(static_cast<void*>(&records[at + 1]), &records[at],
                     sizeof(Record) * static_cast<std::size_t>(total - at));
        records[at] = record;
        ++total;
        ++item->subxact_marks.count;
    }
};

// Removes the `count` leaving items (SubxactRecords::abort) from an array
// that removes an item by moving its last one into its place, in the order a
// walk of the array from its start would: by place, and a leaving item
// moved into the place just emptied goes next (it was the last of the
// array, so it is the one with the highest place of those left).  Keeps the
// array's order as if every item had been walked.  place(item): its index;
// remove(i): removes the item at i; leaving_at(i): whether the item now at
// i (< size()) is leaving; size(): the array's size.
template <typename Item, typename Place, typename Remove, typename LeavingAt, typename Size>
void remove_in_walk_order(SubxactRecord<Item>* leave, int count, Place&& place, Remove&& remove,
                          LeavingAt&& leaving_at, Size&& size) noexcept
{
    std::sort(leave, leave + count,
              [&](const SubxactRecord<Item>& a, const SubxactRecord<Item>& b) {
                  return place(a.item) < place(b.item);
              });
    int low = 0;
    int high = count - 1;
    while (low <= high) {
        int i = place(leave[low++].item);
        remove(i);
        while (i < size() && leaving_at(i)) {
            --high; // the item now at i is leave[high].item
            remove(i);
        }
    }
}

} // namespace zechat::billing
