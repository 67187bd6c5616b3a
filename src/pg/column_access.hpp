// Small readers of rows that the heap access paths of this library share:
// finding a column by name, and comparing a text value with a C string
// without copying it out.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// The number of the (not dropped) column `name` of rel; InvalidAttrNumber
// when there is none.  The caller says what a missing column means.
AttrNumber column_by_name(Relation rel, const char* name);

// Is the text datum `value` exactly `expected`?
bool text_datum_is(Datum value, const char* expected);

} // namespace zechat::billing::pg
