#include <cstring>

#include "column_access.hpp"

extern "C" {
#include "access/stratnum.h"
#include "utils/builtins.h"
#include "utils/rel.h"
}

namespace zechat::billing::pg {

AttrNumber column_by_name(Relation rel, const char* name)
{
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute column = TupleDescAttr(desc, i);
        if (!column->attisdropped && std::strcmp(NameStr(column->attname), name) == 0)
            return column->attnum;
    }
    return InvalidAttrNumber;
}

bool text_datum_is(Datum value, const char* expected)
{
    text* t = DatumGetTextPP(value);
    size_t length = VARSIZE_ANY_EXHDR(t);
    return length == std::strlen(expected) && std::memcmp(VARDATA_ANY(t), expected, length) == 0;
}

void index_column_equals(ScanKey scan_key, Relation index, AttrNumber column, RegProcedure equality,
                         Datum value)
{
    ScanKeyEntryInitialize(scan_key, 0, column, BTEqualStrategyNumber, InvalidOid,
                           index->rd_indcollation[column - 1], equality, value);
}

} // namespace zechat::billing::pg
