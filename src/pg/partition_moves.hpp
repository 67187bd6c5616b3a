// Rows an UPDATE moves to another partition of an enforced table.
//
// PostgreSQL moves such a row by deleting it from its partition and
// inserting it into the other one, and the insert fires the destination's
// BEFORE INSERT triggers (cloned from the partitioned table): a period
// resource would count the moved row again, as a message sent again.  So a
// period resource enforced on a partitioned table also gets
// zzz_billing_<resource>_moved, a BEFORE UPDATE row trigger: when the new
// row differs from the old one in a column the partition's constraint (with
// its ancestors') reads, it checks the new row against that constraint.  A
// row that no longer fits will move, and the trigger leaves a mark that the
// BEFORE INSERT trigger of the same resource, tenant and partition tree
// consumes instead of counting the row.  It fires on every UPDATE, not only
// on those that set a key column (BEFORE UPDATE OF): the application's own
// BEFORE UPDATE triggers may change the key, and they fire before it (the
// enforcement triggers' names sort last).  A gauge's rows need no mark
// (the delete gives back what the insert counts) unless they were never
// counted (a NULL tenant, a negative amount): the gauge's BEFORE UPDATE
// trigger marks those, and their insert counts nothing.
//
// A mark is good for the subtransaction and top-level statement that left
// it (the insert of a move comes in the same ExecUpdate call), and only once
// the row's version in its partition is deleted as a moving row: an update
// skipped by a later BEFORE UPDATE trigger, or a delete skipped by a BEFORE
// DELETE trigger, cancels the move, and its mark is taken by no insert
// (otherwise the next insert of the same tenant into the tree would take
// it, in the same statement, or in the next of the same query string, and
// go uncounted past the limit).  Nor is a mark left for a row moving out
// of the table the resource is enforced on (a partition of a larger tree):
// its insert fires no billing trigger, and the mark would wait for another
// (a partition enforced on its own still leaves it, for another one
// enforced on its own).
// Left: a move whose insert a BEFORE INSERT trigger of the destination
// skips (the row is gone, its delete done) leaves a mark that another
// insert of the tenant into the tree in the same statement takes.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/htup.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// The partitioned table at the top of relid's partition tree; relid itself
// when it is no partition.  Looks up pg_inherits (once per level) the first
// time it is asked about relid, and again after relid's relation cache
// entry was invalidated.
Oid partition_tree_root(Oid relid);

// relid's relation cache entry was invalidated (InvalidOid: all of them):
// its root is looked up again.
void forget_partition_roots(Oid relid);

// Whether new_row, an UPDATE's new version of old_row of partition rel, no
// longer fits rel's partition constraint: the UPDATE will move it.  False
// for a table that is not a partition.
bool update_moves_row(Relation rel, HeapTuple old_row, HeapTuple new_row);

// Whether any mark is left (a cheap test before looking for one).
bool partition_moves_pending();

// The table a trigger was created on: its own, or for a trigger cloned to a
// partition, that of the trigger it was cloned from (an ancestor).  Looks
// up pg_trigger, once per level.
Oid trigger_origin_table(Oid trigger_oid);

// Whether new_row, which leaves partition rel (update_moves_row), stays in
// enforced_table: rel's ancestor whose trigger was cloned to rel (true for
// rel itself, enforced on its own).
bool moved_row_stays_in(Relation rel, HeapTuple new_row, Oid enforced_table);

// Leaves the mark of old_row of rel, which is moving, for resource and
// tenant.
void note_partition_move(Relation rel, HeapTuple old_row, const char* resource, const char* tenant);

// Whether an insert into rel of a row of resource and tenant is the second
// half of a move noted in this statement; the mark is used up.
bool take_partition_move(Relation rel, const char* resource, const char* tenant);

} // namespace zechat::billing::pg
