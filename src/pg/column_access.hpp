// Small pieces that the heap and index access paths of this library share:
// finding a column by name, comparing a text value with a C string without
// copying it out, and an index scan key for equality.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "access/skey.h"
#include "utils/relcache.h"
}

namespace zechat::billing::pg {

// The number of the (not dropped) column `name` of rel; InvalidAttrNumber
// when there is none.  The caller says what a missing column means.
AttrNumber column_by_name(Relation rel, const char* name);

// Is the text datum `value` exactly `expected`?
bool text_datum_is(Datum value, const char* expected);

// Scan key: index column `column` (1-based) equals `value`, compared with
// the index's own collation (a scan key's default, "C", would not match how
// a text column of another collation is ordered).
void index_column_equals(ScanKey scan_key, Relation index, AttrNumber column, RegProcedure equality,
                         Datum value);

} // namespace zechat::billing::pg
