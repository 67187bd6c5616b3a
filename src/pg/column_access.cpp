#include <cstring>

#include "column_access.hpp"

extern "C" {
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

} // namespace zechat::billing::pg
