// The transaction and subtransaction callbacks of the pending usage
// (pending_usage.hpp), registered once per backend.  Their protocol, as
// postgres_fdw's and citus's:
//
// - A transaction that touched no key returns at once (the other files'
//   per-transaction state is still forgotten at its end).
// - XACT_EVENT_PRE_COMMIT may raise, which still aborts the transaction
//   cleanly: a transaction made read-only after it changed usage is refused
//   (refuse_read_only_commit), and the changes not written yet are written
//   and their usage alerts recorded (write_pending_usage, which runs SQL
//   and, in shared-memory mode, may wait for a mover at a counter's move
//   barrier).
// - XACT_EVENT_PRE_PREPARE may raise likewise: the same, with the alerts
//   recorded without NOTIFY, after refusing shared-memory mode's changes in
//   flight and its moves marked in shared memory, which a prepared
//   transaction cannot hold (refuse_prepare_with_counters).
// - XACT_EVENT_COMMIT, ABORT and PREPARE never raise: the counters get this
//   transaction's part (or nothing) and their pins back (settle_counters),
//   and every entry is forgotten.
// - A subtransaction that aborts takes its parts back, and forgets a key
//   it took the hold of (lock mode's row lock, which went with it;
//   shared-memory mode's pin of the counter, given back, when nothing else
//   of the transaction is on the key); one that commits hands them to its
//   parent (pending_subxact_parts.cpp).  Either visits only the keys with
//   something of that subtransaction (pending_subxact_records.cpp).
#pragma once

namespace zechat::billing::pg {

// Registers the transaction callbacks; called from _PG_init.
void register_pending_usage_callbacks();

} // namespace zechat::billing::pg
