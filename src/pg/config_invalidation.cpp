// Trigger on the configuration tables (020_config_invalidation.sql: per row,
// and per statement for TRUNCATE, enabled ALWAYS): queue a relcache
// invalidation of the changed table (PostgreSQL keeps one per table and
// command, however many rows change).  PostgreSQL delivers
// it to every backend of the database when this transaction commits, and
// replays it locally on rollback; the extension's relcache callback then
// drops its cached tenant terms (tenant_terms.hpp).
#include "pg_boundary.hpp"

extern "C" {
#include "commands/trigger.h"
#include "utils/inval.h"
}

namespace {

Datum config_changed_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._config_changed() must be called as a trigger")));
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    CacheInvalidateRelcache(data->tg_relation);
    return (Datum)0;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_config_changed, config_changed_body)
}
