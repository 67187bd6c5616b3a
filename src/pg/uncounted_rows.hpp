// Rows of a statement enforced per statement, deleted or updated before its
// statement trigger has counted them.
//
// A table enforced per statement (statement_inserts.hpp) counts its rows at
// the end of the statement that wrote them, from PostgreSQL's copy of the
// rows as they were written.  Until then they are in the table uncounted,
// and what the statement runs meanwhile can delete or update them: a BEFORE
// INSERT trigger replacing the tenant's earlier file of the same name, a
// function called by the INSERT, an AFTER INSERT trigger of the
// application.  The gauge's DELETE and UPDATE triggers would give back what
// was never counted (so nothing: usage never goes below what was counted),
// and the statement trigger would then count the rows as they were written:
// usage too high, and a statement that fits refused.  So for such a row the
// give-back becomes a credit of its statement instead, which its statement
// trigger takes off the sums it consumes.
//
// A row is such a row when the current transaction wrote it as a new row
// (not as the new version of an UPDATE) with the command id of a statement
// still running at a shallower level (statement_nesting.hpp), the table has
// a statement trigger of the resource, and that trigger has not counted the
// statement yet.  A credit is taken only if the row's delete or update
// really happened: one rolled back to a savepoint (an EXCEPTION block of the
// application's trigger) leaves the row there, counted in full.
//
// Credits and the statements counted live while their statement runs, at
// most until the transaction ends; a credit is 48 bytes, its tenant kept
// once per transaction.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/htup.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

enum class RowChange { deleted, updated };

// `row` was written as a new row by a statement still running (a cheap
// test, before anything is looked up: it is false for almost every row).
bool written_by_running_statement(HeapTuple row);

// `row` (the old version the AFTER DELETE or the BEFORE UPDATE trigger of
// `resource` sees) is one of the rows above: its `amount` for `tenant` is
// recorded as a credit of its statement, with the delete or update that
// makes it, and true is returned; otherwise false, nothing done.
// `trigger_function` is the enforcement triggers' function.
// An update that counts the row's new version at once passes what it
// consumed (`consumed` for `consumed_for`): given back by the statement
// trigger should the update turn out skipped by a BEFORE UPDATE trigger
// firing after the billing one.
bool credit_if_uncounted(Relation rel, Oid trigger_function, const char* resource, HeapTuple row,
                         const char* tenant, int64 amount, RowChange change,
                         const char* consumed_for = nullptr, int64 consumed = 0);

// The statement trigger of (rel, resource) counts the statement running
// at this level: its rows are counted from now on, and its credits go,
// summed per tenant for credit_of() (those whose delete or update was
// done; 0 without credits: nullptr) and skipped_update() below, which read
// them in the caller's memory until its next call.
struct StatementCredits;
StatementCredits* count_statement(Relation rel, const char* resource);
int64 credit_of(const StatementCredits* credits, const char* tenant);

// What skipped updates of those rows consumed, per tenant: given back by
// the statement trigger.
struct SkippedUpdates {
    const char* tenant;
    int64 consumed;
};
int skipped_update_count(const StatementCredits* credits);
SkippedUpdates skipped_update(const StatementCredits* credits, int i);

// The transaction ends (its memory goes).  Never raises.
void forget_uncounted_rows();

} // namespace zechat::billing::pg
