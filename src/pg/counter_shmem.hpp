// The shared-memory counter table (src/core/counter_table.hpp) when the
// library is in shared_preload_libraries: shared-memory mode's admission.
//
// Locking protocol: one LWLock (tranche "zechat_billing") guards the whole
// table; every operation below holds it for a few dozen instructions and
// never across anything that can fail or wait.  billing.counters reads
// under it shared.
//
// Moves: a change of a tenant's billing schedule moves the usage of its
// period's counter to the new period.  The mover marks the counter first
// (counter_move_out), then waits for the transactions that had passed its
// barrier (counter_pass, just before they make their change durable) to
// settle, and only then reads what to move.  A transaction that finds the
// counter marked when it reserves or passes waits for the mover like lock
// mode waits for the row the mover locked, and checks its period again.
//
// Loading: a key missing from the table is placed in state `loading` (under
// the lock), then its committed usage is read from billing.usage_parts with
// a snapshot taken *after* the entry was published; backends wanting the
// same key meanwhile sleep on a condition variable.  An entry is only
// evicted when idle (no transaction pins it, nothing reserved or being
// released), and a transaction's durable write is visible before its commit
// callback unpins the entry, so a load never misses a commit nor counts one
// twice.
#pragma once

#include "tenant_terms.hpp"

extern "C" {
#include "access/transam.h"
}

namespace zechat::billing {
struct CounterEntry;
struct CarryUndo;
struct CounterKey;
} // namespace zechat::billing

namespace zechat::billing::pg {

// Called from _PG_init while shared_preload_libraries is processed: asks for
// the memory and the lock, and installs the startup hook.
void request_counter_shmem();

// True in a backend of a server that preloaded the library: admission then
// runs in shared-memory mode.
bool counter_shmem_available();

// The key's counter, loaded if needed, pinned for the calling transaction
// (unpinned by counter_settle_transaction, or earlier by counter_unpin).
// Raises 53400 when every entry is in use.
CounterEntry* pin_counter(const QuotaKey& key, TimestampTz period_start);

// Whether the key has a counter now (a moment later it may have one, or
// not): for a caller that need not place one when it has none.
bool counter_present(const QuotaKey& key, TimestampTz period_start);

// Whether the counter, which this transaction pins (once), is pinned by
// another transaction too: one admitted on it and still in flight, or a
// loader; not while a move has carried it to another period, where what is
// in flight on it commits then (a period closed at 0 for it after that took
// in a late commit that belonged to the period carried to: 3 of 2; a
// helper's attack of 2026-12-07), until a move carries usage back to it.
// A moment later it may be, or not.
bool counter_pinned_by_others(const CounterEntry* entry);

// A schedule change about to move the key's usage: true if the key has a
// counter (the move goes through it: counter_move_out).  Otherwise, in the
// same step under the table's lock, records that this (sub)transaction
// moves the key, so that a counter placed for it before the transaction
// ends starts marked by it (src/core/absent_key_moves.hpp): a consumption
// under the old terms then waits for the move like one that found the
// counter marked.  Removed when the transaction ends (absent_moves.hpp).
bool counter_present_else_note_move(const QuotaKey& key, TimestampTz period_start);

// DROP DATABASE: removes the dropped database's counters (idle by then: no
// backend is connected to it and no transaction prepared in it).  Idle ones
// could stay until evicted, but a database created again with the same OID
// (CREATE DATABASE ... OID) from the same template, whose usage table keeps
// its OID, would take them over as its own.  Also TRUNCATE and hand edits
// of billing.usage_parts (usage_parts_truncated.cpp, usage_parts_edited.cpp).
// Returns how many were still in use, and so stay.
uint32 counter_forget_database(Oid database);

// This transaction truncates or edits billing.usage_parts, holding its
// ACCESS EXCLUSIVE lock: the database's counters go (they load again from
// the table as the transaction leaves it), or 55006 when some are still in
// use (only this transaction's own can be, then).  The transaction may not
// use a counter any more: one it loaded would count its own view of the
// table, which a rollback brings back.
enum class UsagePartsChange { truncated, edited };
void forget_counters_for_change(UsagePartsChange change);

// Removes this backend's records of absent keys' moves: those of `mover`
// (a subtransaction rolled back), or all of them (InvalidFullTransactionId).
// When their moves rolled back (`rolled_back`), the counters the records
// for single keys marked as they were placed, and that no move carried
// since, are not moved out any more (CounterTable::unmark_noted).  Called
// after this transaction's own carries were undone (settle_counters, and
// take_back_subxact in a subtransaction callback called before this one),
// which may have brought such a mark back.
void counter_forget_absent_moves(FullTransactionId mover, bool rolled_back);

// As counter_forget_absent_moves(all, rolled back), leaving the records:
// at the rollback, before the transaction's locks go.
void counter_unmark_absent_moves();

// At the end of a transaction that recorded its whole database: each
// counter of the database marked by a record (noted_by) loses the mark
// where unmark(key, mover) says so.
void counter_settle_database_marks(bool (*unmark)(const CounterKey& key, uint64 mover));

// This transaction took the key's usage back to the period starting at
// `to` while it had no counter there (return_carried_to): a move of that
// key this transaction recorded no longer stands (note_key_returned).
void counter_note_move_returned(const QuotaKey& key, TimestampTz to);

// The key's counter, if one of this transaction's records marked it as it
// was placed (noted_by, one for which own(mover) holds), loses the mark.
void counter_unmark_own(const CounterKey& key, bool (*own)(uint64 mover));

// A counter's moves (see above): how many began since it was loaded
// (epoch, 0 for none) and the transaction that began the last.  A full
// transaction id: a counter can keep its mark for longer than 32-bit ids
// take to wrap around.
struct CounterMoves {
    uint32 epoch;
    FullTransactionId mover;
};

// Did this transaction begin the counter's last move?
bool counter_moved_by_me(const CounterMoves& moves);

// Waits for the end of the transaction that began the counter's last move,
// if that is another one (as lock mode waits for the row a move locked:
// lock_timeout and the deadlock detector apply).  True if there was one:
// its change, if it committed, is then seen once the invalidation messages
// are taken (tenant_terms_may_have_changed).  `moves` as read from `entry`,
// which this transaction pins.
bool counter_wait_for_mover(CounterEntry* entry, const CounterMoves& moves);

// committed + reserved - own_released + amount <= limit ? reserve : refuse.
// *moves tells the counter's moves, read under the same lock.
Admission counter_reserve(CounterEntry* entry, int64 amount, Limit limit, int64 own_released,
                          CounterMoves* moves);

// Before its change on the entry becomes durable: the transaction passes
// (and is waited for by a mover until it settles) unless a move began
// since `seen_epoch`; false otherwise, with *moves telling which.
bool counter_pass(CounterEntry* entry, uint32 seen_epoch, CounterMoves* moves);

// Takes back a counter_pass() (the transaction checks another key first).
void counter_unpass(CounterEntry* entry);

// This transaction is about to move the entry's usage to another period:
// marks it, then waits until no other transaction that passed is still to
// settle (`own_pass`: this one passed, at commit, before it moved).
void counter_move_out(CounterEntry* entry, const QuotaKey& key, TimestampTz period_start,
                      bool own_pass);

// Gives back up to amount; returns how much (see CounterTable::release:
// own_drawn is kept there; own_unconfirmed, of own_reserved, is not given
// back against).
int64 counter_release(CounterEntry* entry, int64 amount, int64 own_reserved, int64 own_unconfirmed,
                      int64 own_released, int64* own_drawn, bool of_stored_rows);

// A correction not checked against the limit; false, nothing done, when
// the entry's usage would pass the bigint range.
[[nodiscard]] bool counter_force(CounterEntry* entry, int64 delta, int64* own_drawn);

// The entry's committed usage now; with `moves`, also its moves, read under
// the same lock.
int64 counter_committed(CounterEntry* entry, CounterMoves* moves = nullptr);

// Just before commit (usage alerts): registers the transaction's net change
// and returns the usage it starts from (see CounterTable::begin_commit).
int64 counter_begin_commit(CounterEntry* entry, int64 net);

// The ends of a transaction's part on a counter, which give back what it
// reserved and released there (`reserved`, `released`), or count it
// committed.  `committing` is what it registered with counter_begin_commit,
// `passed` whether it passed, `carry_excluded` what it excluded from its
// carry (counter_carry_in_flight), `drawn` what its releases drew on
// committed usage (counter_release).  None raises: they are called from
// commit and abort callbacks.

// COMMIT, ABORT or PREPARE: the transaction's part is committed (`commit`)
// or given back, and the transaction is done with the entry (its pin goes).
void counter_settle_transaction(CounterEntry* entry, int64 reserved, int64 released, bool commit,
                                int64 committing, bool passed, int64 carry_excluded, int64 drawn);

// Before the transaction ends, a part of its change that will not commit on
// this counter (a subtransaction rolled back, a change moved to another
// counter) is given back, as not passed; the pin stays.
void counter_drop_part(CounterEntry* entry, int64 reserved, int64 released, int64 carry_excluded,
                       int64 drawn);

// The transaction holds nothing on the entry any more (the subtransaction
// that pinned it rolled back, or try_consume_quota() was refused): the pin
// goes before the transaction ends, so that the entry can be evicted (a
// loop of refused consumptions over many tenants would otherwise keep every
// counter of the server from other transactions until it ends).
void counter_unpin(CounterEntry* entry);

// A consumption taken back before the transaction ends: its reservation is
// given back; the pin stays.
void counter_take_back_reservation(CounterEntry* entry, int64 amount);

// This transaction moved the usage of `from` (pinned by it) to the period
// starting at `to`: what others have reserved on `from`, now or later,
// counts in the admissions of the tenant's other periods until they settle
// (their consumption lands in the period that counts when they commit),
// less `own_reserved`, this transaction's, which the move took along
// (CounterTable::carry_in_flight).  Raises 53400 when no counter is left
// for it.
void counter_carry_in_flight(const QuotaKey& key, CounterEntry* from, TimestampTz to,
                             int64 own_reserved, CarryUndo* undo);

// The key's counter in the period starting at `to` is present and moved
// out (a moment later it may not be).
bool counter_moved_out(const QuotaKey& key, TimestampTz period_start);

// A move carried usage back to `to`'s period, which this transaction pins
// (CounterTable::return_carried).
void counter_return_carried(CounterEntry* to, CarryUndo* undo);

// The moves rolled back: `from` is as it was (CounterTable::undo_carry).
void counter_undo_carry(CounterEntry* from, const CarryUndo& undo);

} // namespace zechat::billing::pg
