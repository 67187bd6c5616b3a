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

// Shared-memory mode: this transaction is about to move the key's usage to
// another billing period (a schedule change): see counter_move_out.
void move_counter_usage_out(PendingUsage* entry);

// Shared-memory mode: ...and has moved it to the period starting at `to`:
// what other transactions have reserved on `from` counts in the tenant's
// other periods until they end (counter_carry_in_flight); undone if the
// move rolls back.
void carry_counter_in_flight(PendingUsage* from, TimestampTz to);

// Shared-memory mode: whether another transaction than this one may hold
// consumption of the key in flight on its counter, not carried to another
// period (counter_pinned_by_others); false in lock mode, where a schedule
// change waits for such a transaction instead (_close_past_periods).
bool others_in_flight_on(const QuotaKey& key, TimestampTz period_start);

} // namespace zechat::billing::pg
