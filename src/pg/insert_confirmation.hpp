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
// confirming trigger fires, with the nesting level of the statement writing
// the row (statement_nesting.hpp); the WHEN clauses, evaluated in that
// statement, pop as many of that level, last in first out.  Statements run
// while a row is on its way (by a BEFORE trigger firing after ours, or by a
// CHECK constraint's function) are nested a level deeper: the rows they
// write are confirmed before the outer one, and those they count but do not
// write (skipped by their own ON CONFLICT, or by a BEFORE trigger) are taken
// back when they end.  (Without levels, a thumbnail inserted into the same
// table by such a trigger would take the outer row back, written uncounted;
// a blob skipped by another exact table's ON CONFLICT would be confirmed in
// the outer row's place; and a skipped row would stay counted until its
// table's next row or commit, so that a later insert of the transaction
// could be refused for it.)  Mispairing within a statement
// only keeps a count.  A row's fate is known once PostgreSQL has moved on to
// the next row, so an unconfirmed entry is also taken back when the same
// trigger (table and resource) counts its next row in the same statement,
// and at the latest just before commit (COPY, which runs no executor run of
// its own, relies on those two).  The partitions of a partitioned table
// count as one table here: each has its own clone of the trigger, and the
// statement's next row may go to another partition (otherwise a row
// skipped in one would stay counted while the next row, in another, is
// checked against the limit).  Not sooner: code that runs while a row is being
// written may consume too, and must not take back a row still on its way.
// Until then the count is held, as if the row were written: conservative,
// never free.  An UPDATE trigger of the same table and resource takes it
// back too: ON CONFLICT DO UPDATE updates instead of writing the proposed
// row.
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
// consumption goes with it).  In shared-memory mode the key of a row taken
// back gives its counter's pin back by the outermost statement's end when
// the transaction holds nothing else on it (wait_to_give_back_pin).
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

// A statement at nesting level `level` + 1 has run (statement_nesting.hpp):
// what statements nested deeper than `level` counted and did not confirm
// was not written; take it back.
void take_back_unconfirmed_deeper_than(int level);

// Just before commit (and each round of it): takes back every consumption
// still unconfirmed.
void take_back_unwritten_inserts();

// What the entry's unconfirmed rows consumed: consumption that may still be
// taken back, which nothing that lowers usage may count on (a release, a
// correction): it gives back, or corrects, as if those rows were not there,
// and the take-back is then exact whatever happened in between.  (Were
// they to count on it, usage would go below 0 once the row was skipped,
// and a tenant could store past its limit.)  Cheap when nothing waits
// for confirmation.
int64 unconfirmed_amount(const PendingUsage* entry);

// A schedule change moved the usage of `from`, unconfirmed rows included,
// to `to` (another period of the key): their confirmation or take-back is
// `to`'s now, unless the subtransaction that moved it rolls back.
void retarget_unconfirmed(const PendingUsage* from, PendingUsage* to);

// Whether an unconfirmed row is counted on the entry, or a move of such
// rows names it (the entry is about to be forgotten: its address must not
// be held).
bool unconfirmed_insert_refers_to(const PendingUsage* entry);

// Subtransaction end: entries follow a committed one into its parent and
// go with an aborted one.
void unconfirmed_inserts_at_subxact_end(bool commit, SubTransactionId subxact,
                                        SubTransactionId parent);

// Transaction end.
void forget_unconfirmed_inserts();

} // namespace zechat::billing::pg
