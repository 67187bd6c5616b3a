// How deeply statements are nested in this backend: 0 outside any executor
// run the library has seen start, 1 inside a top-level statement's, 2
// inside one that a trigger or a function of that statement runs, and so on.
// Kept by ExecutorRun, ExecutorFinish and ProcessUtility hooks (COPY runs no
// executor of its own), which at the end of each call also tell
// insert_confirmation.hpp that the rows that statement counted and did not
// write will not be written.  A statement already running when the library
// was loaded (lock mode loads it at its first use) runs at level 0, and its
// end is not seen: what it skipped stays held until its table's next row at
// level 0, or commit (conservative).
#pragma once

namespace zechat::billing::pg {

int statement_nesting_level();

// Installs the hook; called from _PG_init.
void register_statement_nesting_hook();

} // namespace zechat::billing::pg
