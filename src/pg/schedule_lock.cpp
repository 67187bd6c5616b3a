#include "schedule_lock.hpp"

extern "C" {
#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
}

namespace zechat::billing::pg {

namespace {

// The advisory lock space's fourth field, told apart from the values of
// pg_advisory_lock (1, 2) and of the key lock in usage_store.cpp.
constexpr uint16 schedule_lock_class = 31331;

// Past this many tenants' locks in one transaction, the mover takes the
// database-wide one instead.
constexpr int max_tenant_locks = 16;

LOCKTAG tenant_tag(const QuotaKey& key)
{
    uint32 tenant_hash =
        hash_bytes(reinterpret_cast<const unsigned char*>(key.tenant_id), key.tenant_id_length);
    LOCKTAG tag;
    // Tenant locks have 1 in the third field, the database-wide lock 0.
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, tenant_hash, 1, schedule_lock_class);
    return tag;
}

LOCKTAG database_tag()
{
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, schedule_lock_class);
    return tag;
}

// The tenant locks the mover's transaction holds so far (reset when
// another transaction starts using it).
TransactionId counted_for = InvalidTransactionId;
int tenant_locks_taken = 0;

} // namespace

void lock_tenant_schedule(const QuotaKey& key)
{
    TransactionId current = GetTopTransactionId();
    if (counted_for != current) {
        counted_for = current;
        tenant_locks_taken = 0;
    }
    LOCKTAG tag = tenant_locks_taken < max_tenant_locks ? tenant_tag(key) : database_tag();
    if (tenant_locks_taken < max_tenant_locks)
        ++tenant_locks_taken;
    (void)LockAcquire(&tag, ExclusiveLock, false, false);
}

void hold_tenant_schedule(const QuotaKey& key)
{
    LOCKTAG database = database_tag();
    LOCKTAG tenant = tenant_tag(key);
    (void)LockAcquire(&database, ShareLock, false, false);
    (void)LockAcquire(&tenant, ShareLock, false, false);
}

void release_tenant_schedule(const QuotaKey& key)
{
    LOCKTAG tenant = tenant_tag(key);
    LOCKTAG database = database_tag();
    (void)LockRelease(&tenant, ShareLock, false);
    (void)LockRelease(&database, ShareLock, false);
}

} // namespace zechat::billing::pg
