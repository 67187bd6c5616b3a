// Which change of the current transaction replaced a row version.
//
// A trigger that counts a row's delete or update before it is known to
// happen (another trigger may skip it, a savepoint may roll it back) keeps
// the (sub)transaction and command of the change and the row's version, and
// later asks the version whether exactly that change replaced it.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/htup.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// When this transaction (or a subtransaction of it not rolled back) deleted
// or updated the version `header` is of: by which (sub)transaction and
// command.
bool replaced_by_us(HeapTupleHeader header, TransactionId* changed_by, CommandId* changed_in);

// Whether the version at `row` of rel was replaced by the change of
// `changed_by` in command `changed_in`, and by an update (`updated`, which
// links the version to its successor in the same table; a row an UPDATE
// moved to another partition was deleted from this one) or a delete (which
// leaves it linked to itself).  A version gone from the table says no.
bool replaced_by_change(Relation rel, ItemPointer row, TransactionId changed_by,
                        CommandId changed_in, bool updated);

} // namespace zechat::billing::pg
