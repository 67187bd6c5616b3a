// Shared-memory mode: a schedule change moving a key's usage to another
// billing period while transactions have changes in flight on its counter
// (counter_shmem.hpp, "Moves"), as the moving transaction and the tracked
// entries see it.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

struct PendingUsage; // pending_usage.hpp

// Shared-memory mode: the counter's move epoch at an admission after which
// no mover of it still runs (it was waited for, or is this transaction)...
void note_admission_epoch(PendingUsage* entry, uint32 epoch);

// ...and the tenant's terms, read after that, still count the key in this
// period: no move begun up to that epoch concerns this transaction's change,
// so its commit passes the barrier without checking again (a counter marked
// long ago, which keeps its mark, costs nothing more per transaction).
void confirm_admission_period(PendingUsage* entry);

// Shared-memory mode: whether the transaction has changed the key yet.  A
// correction of its usage (adjust_usage) that is its first change names its
// period: it waits for a mover of the counter, as lock mode's waits for the
// row the mover locked, and is made at the move epoch then, `epoch`, no
// mover running (it was waited for, or is this transaction), up to which
// its period stands: only a move begun after it takes it along at COMMIT,
// as lock mode's mover would wait for the row it locked and move it with
// the rest.  After an earlier change, a later mover finds this transaction
// first, as in lock mode; also after a correction that changed nothing,
// which took the key's row lock in lock mode all the same (noted too).
bool first_change_of_key(const PendingUsage* entry);
void note_correction_epoch(PendingUsage* entry, uint32 epoch);

// Shared-memory mode: this transaction is about to move the key's usage to
// another billing period, or close it (a schedule change): see
// counter_move_out.  Notes whether another transaction held consumption of
// it in flight then (others_in_flight_at_move).
void move_counter_usage_out(PendingUsage* entry);

// Shared-memory mode: ...and has moved it to the period starting at `to`:
// what other transactions have reserved on `from` counts in the tenant's
// other periods until they end (counter_carry_in_flight); undone if the
// move rolls back.
void carry_counter_in_flight(PendingUsage* from, TimestampTz to);

// Shared-memory mode: ...and the key's counter in the period starting at
// `to`, if it has one moved out by an earlier move, counts its own again:
// what is in flight on it no longer counts in the tenant's other periods
// (a schedule change and its reverse).  Undone if the move rolls back.
void return_carried_to(const QuotaKey& key, TimestampTz to);

// Shared-memory mode, after this transaction closed (or moved) the key's
// usage: whether another transaction then held consumption of the key in
// flight on its counter, not carried to another period
// (counter_pinned_by_others), looked at once the move had begun.  A
// consumer coming later waits for the move and is admitted again after it
// (admission.cpp); one admitted before commits into the closed period,
// which _close_past_periods keeps for it.  Until 2026-12-07 the look came
// before the close, and a consumer admitted in between committed into the
// new period that starts where the closed one did: 8 of 5.  False for a
// key without a counter then, and in lock mode, where a schedule change
// waits for such a transaction instead.
bool others_in_flight_at_move(const QuotaKey& key, TimestampTz period_start);

} // namespace zechat::billing::pg
