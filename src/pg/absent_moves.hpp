// This backend's share of the moves of keys without a counter
// (src/core/absent_key_moves.hpp, kept in shared memory by counter_shmem):
// which it recorded, so that they go when the transaction ends -- after its
// locks are released, since a consumer that no longer finds the entry must
// then see the change -- or when the subtransaction that recorded them rolls
// back (its move did not happen).  A transaction with such moves cannot be
// prepared: nobody would remove them while it waits.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing {
struct CounterKey;
}

extern "C" {
#include "access/transam.h"
}

namespace zechat::billing::pg {

// Makes room to note one more move; may raise, so it runs before the move
// is recorded in shared memory.
void prepare_absent_move_note();

// The current subtransaction (as `mover`) recorded a move; with
// `whole_transaction`, the top-level transaction did (an entry for the
// whole database, which stays when a subtransaction rolls back).  Never
// raises.
void note_absent_move(FullTransactionId mover, bool whole_transaction);

// The move of `key` just recorded (after note_absent_move): kept to the
// end of the transaction, where a record of its whole database, if it made
// one, leaves its marks on the counters of these keys only.  May raise.
void note_key_moved(const CounterKey& key);

// The transaction took `key`'s usage back to its period (a change back:
// return_carried_to): if it recorded a move of the key, a counter placed
// for it while the transaction runs starts marked by that record, and,
// once the transaction commits with the return standing, loses the mark
// (a helper's attack: 10-second periods made 7-second and back, or an
// anchor moved and back, before the tenant's first consumption of the
// period, and a consumer then in flight there counted in the next period
// too, where 5 of 5 were refused that lock mode admitted).  Placing the
// counter at the return instead held one per subscriber of an edited plan
// until the commit, and ran out (53400).  May raise.
void note_key_returned(const CounterKey& key);

// From _PG_init, in shared-memory mode only (lock mode records nothing).
void register_absent_move_callbacks();

// Raises 0A000 for a PREPARE TRANSACTION of a transaction that moved a
// billing period in shared-memory mode (a record of a key without a counter
// here, or the mark of a counter: pending_usage.cpp); `detail` says which.
void refuse_to_prepare_move(const char* detail);

} // namespace zechat::billing::pg
