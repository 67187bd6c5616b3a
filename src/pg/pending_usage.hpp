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
// whole transaction, unless the subtransaction that pinned it rolls back
// leaving nothing of the transaction on the key: the pin then goes, and so
// does the entry (the next consumption pins the counter again).  A refusal
// of try_consume_quota(), or rows ON CONFLICT skipped, that leave nothing
// on the key give the pin back too, keeping the entry (pending_changes.hpp).
// What the transaction reserved and released is written to its backend's
// part of the key at PRE_COMMIT and settled on the counter at COMMIT (or
// dropped at ABORT).  PREPARE TRANSACTION is refused while a change is
// pending: a prepared transaction would hold a reservation with no backend
// to settle it.
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
// the counter); committing one hands its part to the parent.  Either
// visits only the keys the subtransaction touched.
//
// This header: the table of entries and what a caller reads of one.  The
// changes: pending_changes.hpp; alerts: pending_alerts.hpp; moves of a
// counter's usage: pending_counter_moves.hpp; the commit
// (pending_commit.cpp) and the callbacks: pending_usage_callbacks.hpp.
#pragma once

#include "tenant_terms.hpp"

// The rest of the interface, for callers that include this header only.
#include "pending_alerts.hpp"
#include "pending_changes.hpp"
#include "pending_counter_moves.hpp"
#include "pending_usage_callbacks.hpp"

namespace zechat::billing {
struct CounterEntry;
}

namespace zechat::billing::pg {

struct PendingUsage; // opaque; per-backend table, parts in TopTransactionContext

// The entry of a key this transaction tracks, or nullptr.
PendingUsage* find_pending_usage(const QuotaKey& key, TimestampTz period_start);

// The end of the period the entry's usage was first admitted in (0 when
// it holds none of its own): a schedule change may since have given the
// period that starts there another end.
TimestampTz pending_admitted_period_end(const PendingUsage* entry);

// Does this transaction track any key (it consumed, released, corrected or
// moved usage, or was refused on a key whose row it then locked)?
bool transaction_tracks_usage();

// Lock mode: starts tracking a key just locked; base_used is its usage now,
// of which `already_added` was written by this transaction (the first
// admission's amount).
PendingUsage* track_pending_usage(const QuotaKey& key, TimestampTz period_start, int64 base_used,
                                  int64 already_added = 0);

// Shared-memory mode: the key's entry with its counter pinned (pinning it,
// and loading the counter, the first time in the transaction).
PendingUsage* track_counter_usage(const QuotaKey& key, TimestampTz period_start);

// Shared-memory mode: the pinned counter.
CounterEntry* pending_counter(const PendingUsage* entry);

// Shared-memory mode: has this commit passed the key's move barrier (see
// counter_shmem.hpp)?  A mover then waits for it.
bool pending_passed(const PendingUsage* entry);

// The key the entry tracks (its strings live as long as the entry).
QuotaKey pending_quota_key(const PendingUsage* entry);

// Lock mode: base_used + everything consumed - released so far.
int64 pending_current_usage(const PendingUsage* entry);

// What this transaction consumed / released on the key so far (lock mode:
// their net, as one of the two).
int64 pending_consumed(const PendingUsage* entry);
int64 pending_released(const PendingUsage* entry);

// What of the entry's change the commit has not written to the table yet
// (before COMMIT, all of it; at COMMIT, SQL that runs between its rounds
// sees the rest in the table).
int64 unwritten_change(const PendingUsage* entry);

// Shared-memory mode: what its releases drew on committed usage
// (counter_release, counter_force), given back when the entry settles or
// with the part of a subtransaction rolled back.
int64 pending_drawn(const PendingUsage* entry);

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

} // namespace zechat::billing::pg
