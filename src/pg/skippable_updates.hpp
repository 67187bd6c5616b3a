// Updates of counted gauge rows that a BEFORE UPDATE trigger firing after
// the billing one can still skip.
//
// The UPDATE trigger counts a row's change before the row is written, so
// that growth over the limit is refused before anything is written.  But
// PostgreSQL runs a table's BEFORE UPDATE row triggers in the order of their
// names, and one whose name sorts after the billing one's
// (zzz_billing_<resource>_update) may still return NULL: the row is not
// updated.  What the billing trigger gave back at once for a shrink or a
// move to another tenant would then be free although the row still holds it
// (the tenant could store past its limit), and what it consumed for growth
// would stay counted.
//
// So on a table with such a trigger (one of the application's, not
// disabled) the UPDATE trigger consumes as before, holds what it would give
// back, and records the change here with the (sub)transaction and command
// that make it.  When the statement that runs the update ends
// (statement_nesting.hpp), each change is settled by the row's old version:
// replaced by exactly that update, the held amount is given back; not, what
// was consumed for it is.  Until then the change is held as if made: a
// shrink frees nothing in its own statement, a skipped growth takes room in
// it (conservative, never free).  A change rolled back to a savepoint went
// with its consumption, and is settled as nothing.
//
// Tables without such a trigger, the common case, count at once as always.
// A statement running when the library was loaded (lock mode loads it at
// its first use in a session) is not seen to end, and counts at once too.
//
// A change is 56 bytes, kept from the update until its statement ends (the
// list grows by doubling: up to twice that a row); its tenant and resource
// once per transaction.  A row that a later trigger moves to another
// partition is counted by the move's delete and insert, and its update's
// change is settled as skipped.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/htup.h"
#include "commands/trigger.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// Whether a BEFORE UPDATE row trigger of rel that is not a billing one
// (another function than `self`'s) and not disabled fires after `self`.
bool update_skippable_after(Relation rel, const Trigger* self);

// Whether the update running now can be settled when its statement ends
// (its statement is known): if not, its change is counted at once.
bool update_can_be_held();

// Records the change of the update of `old_row` (update_can_be_held() was
// true): `consumed` was consumed for `consumed_for`, `held` is what will be
// given back for `held_for` once the update is known done.  With
// `counts_if_done`, an update the billing trigger saw move the row to
// another partition, whose delete and insert count it: nothing was
// consumed, and both are counted only if a later trigger kept the row in
// its partition (otherwise such growth would go uncounted).
void hold_update(Relation rel, HeapTuple old_row, const char* resource, const char* consumed_for,
                 int64 consumed, const char* held_for, int64 held, bool counts_if_done = false);

// A statement at nesting level `level` + 1 has run: settles the changes of
// updates made deeper than `level` (0 at commit and PREPARE: all of them).
void settle_updates_deeper_than(int level);

// The transaction ends (its memory goes).  Never raises.
void forget_held_updates();

} // namespace zechat::billing::pg
