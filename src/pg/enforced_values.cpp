#include "enforced_values.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/rel.h"
}

namespace zechat::billing::pg {

bool tenant_type_accepted(Oid base_type)
{
    switch (base_type) {
    case TEXTOID:
    case VARCHAROID:
    case UUIDOID:
    case INT8OID:
    case INT4OID:
        return true;
    default:
        return false;
    }
}

bool amount_type_accepted(Oid base_type)
{
    return base_type == INT2OID || base_type == INT4OID || base_type == INT8OID;
}

const char* tenant_id_text(Datum value, Oid type)
{
    switch (type) {
    case UUIDOID:
        return DatumGetCString(DirectFunctionCall1(uuid_out, value));
    case INT8OID:
        return DatumGetCString(DirectFunctionCall1(int8out, value));
    case INT4OID:
        return DatumGetCString(DirectFunctionCall1(int4out, value));
    default:
        return TextDatumGetCString(value);
    }
}

int64 amount_value(Datum value, Oid type)
{
    switch (type) {
    case INT2OID:
        return DatumGetInt16(value);
    case INT4OID:
        return DatumGetInt32(value);
    default:
        return DatumGetInt64(value);
    }
}

void refuse_null_tenant(Relation rel, const char* resource)
{
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("tenant column of \"%s\" must not be null: %s is enforced on it",
                           RelationGetRelationName(rel), resource)));
    pg_unreachable();
}

void refuse_negative_amount(Relation rel, int64 amount)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("amount of a row of \"%s\" must not be negative, got " INT64_FORMAT,
                           RelationGetRelationName(rel), amount)));
    pg_unreachable();
}

} // namespace zechat::billing::pg
