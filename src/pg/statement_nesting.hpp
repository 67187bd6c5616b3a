// How deeply statements are nested in this backend: 0 outside any executor
// run the library has seen start, 1 inside a top-level statement's, 2
// inside one that a trigger or a function of that statement runs, and so on.
// Kept by an ExecutorRun hook, which at the end of each run also tells
// insert_confirmation.hpp that the rows that statement counted and did not
// write will not be written.
#pragma once

namespace zechat::billing::pg {

int statement_nesting_level();

// Installs the hook; called from _PG_init.
void register_statement_nesting_hook();

} // namespace zechat::billing::pg
