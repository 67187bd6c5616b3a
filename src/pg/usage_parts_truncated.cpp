// TRUNCATE of billing.usage_parts (an administrator's reset of all usage,
// though the table says "do not edit"): in shared-memory mode the counters
// hold the committed usage as loaded from that table, and would keep it
// after the TRUNCATE (tenant_usage would show 0 while consumption was
// still refused at the old usage).  The AFTER TRUNCATE trigger takes the
// database's counters out of shared memory; they load again from the table
// as it is then (empty, or as before if the TRUNCATE rolls back).  Nobody
// else holds one: the TRUNCATE waited for every transaction that consumed
// (each holds ROW EXCLUSIVE on the table from its first consumption), and
// new ones wait for it.  A counter still in use is this transaction's own
// consumption, made before the TRUNCATE: refused; so is consuming after it
// in the same transaction.  Lock mode refuses a TRUNCATE after the
// transaction's own consumption too (usage_parts_edited.hpp).
#include "pg_boundary.hpp"
#include "usage_parts_edited.hpp"

extern "C" {
#include "commands/trigger.h"
}

namespace {

Datum usage_parts_truncated_body(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("billing._usage_parts_truncated() must be called as a trigger")));
    using namespace zechat::billing::pg;
    if (!counter_shmem_available())
        refuse_change_over_own_usage(UsagePartsChange::truncated);
    forget_counters_for_change(UsagePartsChange::truncated);
    return (Datum)0;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_usage_parts_truncated, usage_parts_truncated_body)
}
