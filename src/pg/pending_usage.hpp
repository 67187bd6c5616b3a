// What this transaction has consumed and released, per key, and not yet
// written to billing.usage_parts; written once, just before commit
// (XACT_EVENT_PRE_COMMIT / PRE_PREPARE, where an error still aborts the
// transaction cleanly).
//
// Lock mode: writing every admission straight to the key's row would make
// one transaction update the same row once per inserted row (a COPY of a
// million messages would leave a million dead versions behind).  Instead
// the first admission of a key locks and writes its row (usage_store.hpp)
// and records the result as base_used; what follows in the transaction
// accumulates here against that locked value.  The row lock is released,
// and the first write undone, when the subtransaction that took it aborts:
// such an entry is forgotten (its base would be stale) and the next
// admission starts over.
//
// Shared-memory mode: the entry points to the key's counter, pinned for the
// whole transaction.  What the transaction reserved and released is written
// to its backend's part of the key at PRE_COMMIT and settled on the counter
// at COMMIT (or dropped at ABORT).  PREPARE TRANSACTION is refused while a
// change is pending: a prepared transaction would hold a reservation with no
// backend to settle it.
//
// A schedule change that moves a period's usage elsewhere while other
// transactions have changes in flight on it: in shared-memory mode, those
// that had not yet made their change durable move it, at commit, to the
// period that counts now (see counter_shmem.hpp, "Moves").
//
// Usage alerts: just before commit, each key this transaction consumed
// gets the alert thresholds it crossed recorded (usage_alerts.hpp).
//
// Savepoints: each entry keeps, per subtransaction, what it consumed and
// released there.  Aborting a subtransaction takes its part back (and off
// the counter); committing one hands its part to the parent.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing {
struct CounterEntry;
}

namespace zechat::billing::pg {

struct PendingUsage; // opaque; per-backend table, parts in TopTransactionContext

// The entry of a key this transaction tracks, or nullptr.
PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start);

// Lock mode: starts tracking a key just locked; base_used is its usage now,
// of which `already_added` was written by this transaction (the first
// admission's amount).
PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used,
                                  int64 already_added = 0);

// A consumption was admitted under these terms: at commit, the usage alert
// thresholds it crosses are recorded (usage_alerts.hpp).  Corrections
// (recount) never call it, so they never alert.
void note_consumption_terms(PendingUsage* entry, const TenantTerms& terms);

// Shared-memory mode: the key's entry with its counter pinned (pinning it,
// and loading the counter, the first time in the transaction).
PendingUsage* track_counter_usage(const QuotaKey& key, TimestampTz period_start);

// Shared-memory mode: the pinned counter.
CounterEntry* pending_counter(const PendingUsage* entry);

// Shared-memory mode: has this commit passed the key's move barrier (see
// counter_shmem.hpp)?  A mover then waits for it.
bool pending_passed(const PendingUsage* entry);

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

// The key the entry tracks (its strings live as long as the entry).
QuotaKey pending_quota_key(const PendingUsage* entry);

// Lock mode: base_used + everything consumed - released so far.
int64 pending_current_usage(const PendingUsage* entry);

// What this transaction consumed / released on the key so far (lock mode:
// their net, as one of the two).
int64 pending_consumed(const PendingUsage* entry);
int64 pending_released(const PendingUsage* entry);

// Shared-memory mode: what its releases drew on committed usage
// (counter_release, counter_force), given back when the entry settles or
// with the part of a subtransaction rolled back.
int64 pending_drawn(const PendingUsage* entry);

// Makes room to record a change in the current subtransaction.  It may
// allocate (and so raise), which record_pending_change() never does: call it
// before changing a counter, so that nothing done there goes unrecorded.
void prepare_pending_change(PendingUsage* entry);

// Records a change in the current subtransaction (after
// prepare_pending_change): consumed and released are both >= 0;
// drawn_more, what the counter's draw of this transaction grew by.
void record_pending_change(PendingUsage* entry, int64 consumed, int64 released,
                           int64 drawn_more = 0);

// Lock mode: prepare + record of a signed change (> 0 consumed).  Lock mode
// keeps only the net of consumed and released, which fits wherever usage
// does (opposite changes cancel instead of adding up past the bigint range).
void add_pending_usage(PendingUsage* entry, int64 delta);

// Takes back `amount` consumed in `subxact` (still open, or the open one it
// was handed to) as if that consumption had never happened: recorded in
// that subtransaction's part, so that rolling back a later one does not
// bring it back.  Shared-memory mode also frees the reservation at once.
void take_back_consumption(PendingUsage* entry, SubTransactionId subxact, int64 amount);

// Usage alerts across a move of a key's usage by this transaction (a
// schedule change): what this transaction itself consumed in the period
// moved away from alerts in the new one, counted on top of the usage
// carried along, which is no consumption (until 2026-12-05 it alerted
// nowhere, and the next consumption found the thresholds it passed behind
// it).  Read before the move (`moved` is what it takes, `from` may be
// nullptr), applied after it to the new period's entry.
struct AlertCarry {
    bool consumed_here; // the transaction consumed in the old period
    int64 carried;      // of `moved`, what it did not consume
};
AlertCarry alert_carry_of(const PendingUsage* from, int64 moved);
void carry_alerts_to(PendingUsage* to, const AlertCarry& carry);

// Calls fn(resource, period_start, delta, arg) for every key of tenant_id
// with a non-zero unwritten change (consumed - released).
void for_each_pending_of_tenant(const char* tenant_id,
                                void (*fn)(const char* resource, TimestampTz period_start,
                                           int64 delta, void* arg),
                                void* arg);

// The same for every key this transaction changed, with its tenant.
void for_each_pending(void (*fn)(const char* tenant_id, const char* resource,
                                 TimestampTz period_start, int64 delta, void* arg),
                      void* arg);

// Registers the transaction callbacks; called from _PG_init.
void register_pending_usage_callbacks();

} // namespace zechat::billing::pg
