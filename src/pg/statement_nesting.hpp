// How deeply statements are nested in this backend: 0 outside any executor
// run the library has seen start, 1 inside a top-level statement's, 2
// inside one that a trigger or a function of that statement runs, and so on.
// Kept by ExecutorRun, ExecutorFinish and ProcessUtility hooks (COPY runs no
// executor of its own), which at the end of each call also tell
// insert_confirmation.hpp that the rows that statement counted and did not
// write will not be written, and held_refusals.hpp that its rows passed
// row-level security.  A statement already running when the library
// was loaded (lock mode loads it at its first use) runs at level 0, and its
// end is not seen: what it skipped stays held until its table's next row at
// level 0, or commit (conservative).
//
// Each level also keeps the command id its statement writes rows with, so
// that a row of the current transaction can be traced to the statement
// still running that wrote it: command ids are not shared between writing
// statements (SPI and each top-level statement take a new one after one
// that wrote), so a row's cmin names its statement.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

int statement_nesting_level();

// The command id the statement at `level` writes with; InvalidCommandId
// when it writes no rows, or the level is not running.
CommandId statement_writing_cid(int level);

// Whether a statement running at a level below `below_level` writes its
// rows with `cid`.
bool written_by_running_statement(CommandId cid, int below_level);

// Installs the hook; called from _PG_init.
void register_statement_nesting_hook();

} // namespace zechat::billing::pg
