// Refusals held back until PostgreSQL's row-level security has passed the
// row.
//
// PostgreSQL checks a row against the WITH CHECK policies of row-level
// security (ExecWithCheckOptions) only after the BEFORE ROW triggers.  A
// role that may write only its own tenant's rows, writing a row of another
// tenant, would otherwise learn from the enforcement trigger that tenant's
// refusal (its usage and limit in the DETAIL, no subscription, an inactive
// one; or, from PT402 against the policy's 42501 alone, whether an amount
// fits: enough to bisect its remaining quota).  So on a table where
// row-level security applies to the current user, a refusal of a BEFORE
// ROW trigger is held instead of raised, and raised once the row is known
// to have passed the policies:
//
// - when the next row reaches a BEFORE ROW trigger of the extension at the
//   same nesting level (statement_nesting.hpp): of the same table (a
//   partitioned table's tree counts as one) and resource, or of another
//   table (a data-modifying WITH feeding the statement).  PostgreSQL takes
//   a row from its BEFORE triggers through WITH CHECK to the heap before it
//   starts the next one, so the held row passed (its other resources'
//   triggers fire for the same row: they raise nothing);
// - when its statement ends (ExecutorRun, ExecutorFinish or ProcessUtility
//   returning at that level);
// - at the latest, just before commit and before PREPARE (the transaction
//   fails): the statement during which a backend in lock mode loads the
//   library runs at level 0 and its end is not seen.
//
// A row the policies refuse fails its statement with 42501 first, and the
// held refusal goes with the (sub)transaction's abort, telling nothing.
// Nothing is consumed for a held row, and the statement always fails, so
// nothing over the limit can commit.  Held only where row-level security
// applies: elsewhere a refusal is raised at once, as always.  COPY FROM
// needs nothing: PostgreSQL refuses it to a role under row-level security.
//
// Entries belong to the subtransaction that held them, follow it into its
// parent when it commits, and go when it aborts.
#pragma once

#include "admission.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace zechat::billing::pg {

// Raises the refusal of `amount` on `key`, unless row-level security
// applies to the current user on rel or on a table above it (a partitioned
// table, an inheritance parent: a statement may write rel's rows through
// it, under its policies); then holds it and returns.  Looks that up only
// here: refusals are rare, and admitted rows pay nothing.
void raise_or_hold_refusal(Relation rel, const QuotaKey& key, int64 amount,
                           const DescribedRefusal& refusal);

// At a BEFORE ROW trigger of rel and `resource`, before it counts: raises
// the refusals held for rows that have passed the policies (see above).
// Cheap when nothing is held.
void raise_refusals_held_before_row(Relation rel, const char* resource);

// A statement at nesting level `level` + 1 has run: raises the refusals
// held deeper than `level`.
void raise_refusals_held_deeper_than(int level);

// Installs the transaction callbacks; called from _PG_init.
void register_held_refusal_callbacks();

} // namespace zechat::billing::pg
