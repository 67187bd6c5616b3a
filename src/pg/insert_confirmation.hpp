// Rows the INSERT trigger counted that PostgreSQL then did not write.
//
// The BEFORE INSERT trigger must consume before the row is written (over the
// limit nothing may be written), but PostgreSQL looks for an ON CONFLICT
// arbiter's conflict only after the BEFORE triggers: a row DO NOTHING skips,
// or DO UPDATE turns into an update of the existing row, has been counted as
// inserted.  (So has a row a BEFORE trigger firing after ours skips.)
//
// billing.exact_on_conflict(tbl) gives each enforcement of the table an
// AFTER INSERT row trigger too, zzz_billing_<resource>_inserted, whose WHEN
// clause, billing._insert_written(), PostgreSQL evaluates as it queues the
// row's AFTER events, right after writing it, and only for rows really
// written.  The function confirms the row and returns false, so that no
// event is queued and the trigger itself never runs.  Still, preparing a
// WHEN clause costs every statement about 8k instructions (parsing it,
// looking up and checking the function), some 7 % of a one-row INSERT, and
// a trigger that is merely there about 1.2k (the executor copies it for
// every statement): so only on request.  With the trigger firing, what the
// INSERT trigger consumes for a row stays unconfirmed until the row is
// written.
//
// Pairing: the INSERT triggers of a row push one entry per resource whose
// confirming trigger fires, with the trigger depth they run at
// (pg_trigger_depth()); the WHEN clauses, evaluated one level up, pop as
// many of that depth, last in first out.  Code that a row's triggers run
// while it is on its way (a BEFORE trigger firing after ours) runs one level
// deeper: the rows it writes are confirmed before the outer one, and those
// it counts but does not write (skipped by its own ON CONFLICT) are taken
// back once a shallower level is reached.  (Until 2026-12-05 nothing told
// the levels apart: such a trigger inserting into the same table took the
// outer row back, written uncounted, and one skipping a row of another exact
// table left that row's entry to be confirmed for the outer one.)  Mispairing
// within a level only keeps a count.  A row's fate is known once PostgreSQL
// has moved on to the next row, so an unconfirmed entry is taken back when
// the same trigger (table and resource) counts its next row at the same
// depth, and otherwise just before commit.  The partitions of a partitioned
// table count as one table here: each has its own clone of the trigger, and
// the statement's next row may go to another partition (until 2026-12-04 a
// row skipped in one stayed counted while the next row, in another, was
// checked against the limit).  Not sooner: code that runs while a row is
// being written (a BEFORE trigger firing after ours, a CHECK constraint's
// function) may consume too, and must not take back a row still on its way.
// (A CHECK constraint's function is not a trigger: one inserting into the
// table it guards runs at the outer row's depth and takes that row back
// early, which is then written uncounted.)  Until then the count is held, as
// if the row were written: conservative, never free.  An UPDATE trigger of
// the same table and resource takes it back too: ON CONFLICT DO UPDATE
// updates instead of writing the proposed row.
//
// The limit: a row the limit refuses may be a duplicate that DO NOTHING will
// skip (a webhook delivered again when the tenant is at its limit), or an
// upsert whose update fits where the whole proposed row does not.  So on an
// exact table the INSERT trigger consumes such a row all the same and holds
// the PT402 back (admission.hpp, consume_quota_deferring_limit); the
// confirmation raises it if the row is written, which fails the statement
// before anything is committed, and a row not written just gives the
// amount back.
//
// Pending consumption lives in pending_usage.hpp; this keeps only which of
// it is unconfirmed.  Entries belong to the subtransaction that consumed,
// follow it into its parent when it commits, and go when it aborts (the
// consumption goes with it).
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "commands/trigger.h"
}

namespace zechat::billing::pg {

struct PendingUsage;
struct DeferredRefusal;

// The tgenabled of the AFTER INSERT row trigger of rel whose WHEN clause
// confirms the rows the INSERT trigger `self` counts (same function and
// resource; billing.exact_on_conflict adds it), '\0' when there is none.
char confirmation_trigger_enabled(Relation rel, const Trigger* self);

// Does a trigger so enabled fire now?  As PostgreSQL decides
// (TriggerEnabled): by tgenabled and session_replication_role.
bool confirmation_fires(char tgenabled);

// The table whose next row tells that the last row a trigger of rel
// counted was written or not: rel, or for a partition the partitioned table
// at the top of its tree (each partition has its own clone of the trigger,
// and the next row of the statement may go to another partition).
Oid confirmation_table_of(Relation rel);

// At the INSERT (or UPDATE) trigger of rel and `resource`, before it
// consumes: the row an INSERT trigger of the same confirmation table
// counted before, if never confirmed, was not written; take it back.
void take_back_unwritten_insert(Relation rel, const char* resource);

// Room for one more unconfirmed row, made before consuming, so that
// recording it after the consumption cannot fail.
void make_room_for_unconfirmed_insert();

// The INSERT trigger of a table of confirmation table `table`
// (confirmation_table_of) and `resource` consumed `amount` (0:
// nothing, entry nullptr) on `entry` for a row that its AFTER trigger will
// confirm if written; over the limit, with the refusal held back.
void expect_insert_confirmation(Oid table, const char* resource, PendingUsage* entry, int64 amount,
                                const DeferredRefusal& refusal);

// Just before commit (and each round of it): takes back every consumption
// still unconfirmed.
void take_back_unwritten_inserts();

// Subtransaction end: entries follow a committed one into its parent and
// go with an aborted one.
void unconfirmed_inserts_at_subxact_end(bool commit, SubTransactionId subxact,
                                        SubTransactionId parent);

// Transaction end.
void forget_unconfirmed_inserts();

} // namespace zechat::billing::pg
