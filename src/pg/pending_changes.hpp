// The changes a transaction makes on a key it tracks (pending_usage.hpp),
// recorded per subtransaction, so that rolling one back takes back exactly
// its part.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

struct PendingUsage; // pending_usage.hpp

// Makes room to record a change in the current subtransaction.  It may
// allocate (and so raise), which record_pending_change() never does: call it
// before changing a counter, so that nothing done there goes unrecorded.
void prepare_pending_change(PendingUsage* entry);

// Records a change in the current subtransaction (after
// prepare_pending_change): consumed and released are both >= 0;
// drawn_more, what the counter's draw of this transaction grew by.
void record_pending_change(PendingUsage* entry, int64 consumed, int64 released,
                           int64 drawn_more = 0);

// Records, in the current subtransaction, usage a move carried to the
// entry's period (> 0) or away from it (< 0) that this transaction did not
// consume, or a correction, made before (`carried`) or after
// (`corrected_after`) the transaction consumed on the key
// (PendingUsage.alert_carried); prepares the change itself.
void record_alert_carry(PendingUsage* entry, int64 carried, int64 corrected_after = 0);

// Lock mode: prepare + record of a signed change (> 0 consumed).  Lock mode
// keeps only the net of consumed and released, which fits wherever usage
// does (opposite changes cancel instead of adding up past the bigint range).
void add_pending_usage(PendingUsage* entry, int64 delta);

// Takes back `amount` consumed in `subxact` (still open, or the open one it
// was handed to) as if that consumption had never happened: recorded in
// that subtransaction's part, so that rolling back a later one does not
// bring it back.  Shared-memory mode also frees the reservation at once.
void take_back_consumption(PendingUsage* entry, SubTransactionId subxact, int64 amount);

// Shared-memory mode: when the transaction holds nothing on the entry's
// key (a try_consume_quota() refusal, a skipped row's key: below), its
// counter's pin goes at once and its empty parts are freed, the entry kept
// with no counter (as one whose pin failed; the next consumption pins
// again).  Never raises.
void give_back_unused_pin(PendingUsage* entry);

// Shared-memory mode: a row counted on the entry was taken back (ON
// CONFLICT skipped it): the entry waits to give its pin back, which
// give_back_waiting_pins() does, when the outermost statement ends, for
// each waiting entry on which the transaction then holds nothing; so does
// this, first, when the list is full (pending_pins_to_give_back.cpp).
// Never raise.
void wait_to_give_back_pin(PendingUsage* entry);
void give_back_waiting_pins();

} // namespace zechat::billing::pg
