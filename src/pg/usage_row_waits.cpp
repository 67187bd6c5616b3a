#include <cstring>

#include "usage_row_waits.hpp"

#include "../core/tenant_key.hpp"
#include "pg_boundary.hpp"
#include "quota_key_fields.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
}

namespace zechat::billing::pg {

namespace {

// This backend's counting statement, and the key it could not have.  Fixed
// key fields: nothing is allocated for a state that must survive the error
// it explains.  A refusal is answered in
// the client statement that made it (by the handler of the caller's block):
// one left by a cancel in between must not turn a later lock_timeout into a
// wait for its row, so it is kept with that statement's transaction and
// start.
struct RefusedUsageRow {
    bool refusing;
    bool refused;
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
    TimestampTz period_start;
    TransactionId holder;
    LocalTransactionId refused_in;
    TimestampTz refused_statement;
};

RefusedUsageRow refused_row;

} // namespace

void set_usage_row_waits_refused(bool refused)
{
    refused_row.refusing = refused;
    if (refused)
        refused_row.refused = false;
}

bool usage_row_waits_refused()
{
    return refused_row.refusing;
}

void note_refused_usage_row(const QuotaKey& key, TimestampTz period_start)
{
    std::memset(refused_row.tenant_id, 0, sizeof refused_row.tenant_id);
    std::memset(refused_row.resource, 0, sizeof refused_row.resource);
    copy_key_fields(key, refused_row.tenant_id, refused_row.resource);
    refused_row.period_start = period_start;
    refused_row.holder = InvalidTransactionId;
    refused_row.refused_in = MyProc->lxid;
    refused_row.refused_statement = GetCurrentStatementStartTimestamp();
    refused_row.refused = true;
}

void refuse_usage_row_wait(const QuotaKey& key, TimestampTz period_start, TransactionId holder)
{
    note_refused_usage_row(key, period_start);
    refused_row.holder = holder;
    ereport(ERROR, (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
                    errmsg("usage of tenant \"%s\", resource \"%s\" is held by another transaction",
                           key.tenant_id, key.resource)));
}

namespace {

// billing._lock_refused_usage_row(): after a refusal, waits for the key
// refused to be free and locks it, for the caller's block to give back
// (_wait_for_refused_usage_row); false when none was refused (the 55P03
// came from elsewhere: a lock_timeout, or the refusal was made by another
// statement).
Datum lock_refused_usage_row_body(FunctionCallInfo)
{
    bool refused_here = refused_row.refused && refused_row.refused_in == MyProc->lxid &&
                        refused_row.refused_statement == GetCurrentStatementStartTimestamp();
    refused_row.refused = false;
    if (!refused_here)
        PG_RETURN_BOOL(false);
    RefusedUsageRow row = refused_row;
    // A transaction inserting the row: nothing to lock until it ends.
    if (TransactionIdIsValid(row.holder))
        XactLockTableWait(row.holder, nullptr, nullptr, XLTW_None);
    QuotaKey key = quota_key_in(row.tenant_id, row.resource);
    lock_usage_parts_for_writing();
    lock_usage_key(key);
    // Its newest version even in REPEATABLE READ: nothing is read or
    // written under this lock, and the caller starts again with the latest
    // snapshot (a serialization failure here was for nothing).
    int64 used;
    (void)lock_writer_zero_row(key, row.period_start, &used, RowLockWait::then_newest);
    PG_RETURN_BOOL(true);
}

} // namespace

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_lock_refused_usage_row, zechat::billing::pg::lock_refused_usage_row_body)
}
