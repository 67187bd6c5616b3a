// Whether a row fits a partition's constraint, as an UPDATE that may move
// it to another partition must ask for each row whose key columns change
// (partition_moves.hpp).  The constraint is prepared as an expression once
// per command and pair of relations, not for every row: built per row it
// would be a large part of what a moving row costs the billing triggers.
// A check asked for while another is evaluated (its
// constraint calls a function that moves rows of another enforced tree) is
// prepared for its row alone.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/htup.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// Whether row, a version of a row of partition rel, fits the partition
// constraint of `constrained`: rel itself or one of its ancestors (whose
// constraint holds its own ancestors'), in rel's columns.  True when
// `constrained` is no partition; false when it no longer exists.
bool row_fits_partition(Relation rel, Oid constrained, HeapTuple row);

} // namespace zechat::billing::pg
