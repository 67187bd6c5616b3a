// Shared-memory mode: keys whose rows were taken back (rows of an
// exact_on_conflict table that ON CONFLICT DO NOTHING skipped,
// insert_confirmation.hpp) wait here to give their counter's pin back if
// the transaction then holds nothing on them (give_back_unused_pin).
// Kept, a role allowed only to insert into such a table held one counter
// per tenant it named with rows that conflicted, until its transaction
// ended, and could take every counter of the server from every database.
//
// Not given back as each row is taken back: a redelivery of one tenant's
// messages skips row after row of one key, and each row would unpin the
// counter and pin it again, taking the counter table's exclusive lock
// twice.  Rather when the outermost statement ends, and before a key past
// `waiting_capacity` is listed: so a transaction holds at most that many
// counters for keys it has nothing on (besides the key of a row on its
// way), however many keys its skipped rows name, and a key that has rows
// written, or a change of any kind, keeps its pin (holds_nothing).
//
// The list holds entries, listed once each (PendingUsage.pin_waits); an
// entry stays where it is until untracked, and untrack() takes it off the
// list first (a subtransaction rolled back with the key's hold in it).
// Plain data in a fixed array: nothing to allocate, and nothing to free
// when a transaction ends, aborted or not.
#include "pending_changes.hpp"
#include "pending_usage_entry.hpp"

namespace zechat::billing::pg {

namespace {

constexpr int waiting_capacity = 64;
PendingUsage* waiting[waiting_capacity];
int waiting_count = 0;

} // namespace

void give_back_waiting_pins()
{
    // Every outermost statement's end comes here: stay cheap.
    if (waiting_count == 0)
        return;
    for (int i = 0; i < waiting_count; ++i) {
        waiting[i]->pin_waits = false;
        give_back_unused_pin(waiting[i]);
    }
    waiting_count = 0;
}

void wait_to_give_back_pin(PendingUsage* entry)
{
    // Lock mode keeps no counter; a key without one has no pin to give.
    if (entry->counter == nullptr || entry->pin_waits)
        return;
    if (waiting_count == waiting_capacity)
        give_back_waiting_pins();
    entry->pin_waits = true;
    waiting[waiting_count++] = entry;
}

void stop_waiting_to_give_back_pin(PendingUsage* entry)
{
    for (int i = 0; i < waiting_count; ++i) {
        if (waiting[i] == entry) {
            waiting[i] = waiting[--waiting_count];
            break;
        }
    }
    entry->pin_waits = false;
}

void forget_waiting_pins()
{
    for (int i = 0; i < waiting_count; ++i)
        waiting[i]->pin_waits = false;
    waiting_count = 0;
}

} // namespace zechat::billing::pg
