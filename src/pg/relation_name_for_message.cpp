// billing._relation_name(regclass): a table's name for a message, which
// quotes it ("%") as PostgreSQL's own messages do.  Qualified unless it is
// visible, as regclass prints it: under the function's search_path
// (pg_catalog, pg_temp), as under its callers', only temporary tables and
// the catalog's are.  But without regclass's quoting, which doubled the
// quotes of a name that needs them (""public."Message""", as an ORM names
// tables after its models; until 2026-12-07).  The oid once the table is
// gone.
//
// In C, from the syscache as regclass reads it: a first version in SQL, a
// query of pg_class in a STABLE function, found two rows for the table
// under the snapshot of a REPEATABLE READ transaction's own ALTER TABLE
// ("more than one row returned by a subquery"; isolation
// catalog_repeatable_read).
#include "pg_boundary.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace {

Datum relation_name_body(FunctionCallInfo fcinfo)
{
    Oid relid = PG_GETARG_OID(0);
    char* name = get_rel_name(relid);
    if (name == nullptr)
        PG_RETURN_TEXT_P(cstring_to_text(psprintf("%u", relid)));
    if (!RelationIsVisible(relid))
        if (char* schema = get_namespace_name(get_rel_namespace(relid)); schema != nullptr)
            name = psprintf("%s.%s", schema, name);
    PG_RETURN_TEXT_P(cstring_to_text(name));
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_relation_name, relation_name_body)
}
