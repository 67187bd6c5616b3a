#include <cstring>

#include "usage_store.hpp"

#include "billing_catalog.hpp"
#include "column_access.hpp"
#include "owner_spi.hpp"
#include "read_snapshot.hpp"
#include "refusal.hpp"
#include "usage_part_rows.hpp"
#include "usage_parts_edited.hpp"
#include "usage_row_waits.hpp"

extern "C" {
#include "access/genam.h"
#include "access/hash.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// Advisory lock tags with this fourth field belong to zechat_billing; user
// calls of pg_advisory_lock use 1 and 2, so they never collide.  In pg_locks
// they show as locktype 'advisory', objsubid 31330.
constexpr uint16 usage_lock_class = 31330;

SPIPlanPtr read_plan = nullptr;
SPIPlanPtr write_plan = nullptr;
SPIPlanPtr write_existing_plan = nullptr;
SPIPlanPtr zero_row_plan = nullptr;
SPIPlanPtr unclaim_plan = nullptr;
SPIPlanPtr other_parts_plan = nullptr;

// $1, $2, $3: tenant, resource, period start.
#define ZB_KEY_IS(alias)                                                                          \
    " " alias ".tenant_id OPERATOR(pg_catalog.=) $1 "                                            \
    " AND " alias ".resource OPERATOR(pg_catalog.=) $2 "                                         \
    " AND " alias ".period_start OPERATOR(pg_catalog.=) $3 "

// The parts written in shared-memory mode (writer <> 0).  Lock mode never
// writes them, so while it runs they are constant: left over from a run of
// the server with the library preloaded.
#define ZB_OTHER_PARTS                                                                            \
    "(SELECT COALESCE(pg_catalog.sum(o.used), 0)::bigint FROM billing.usage_parts o "            \
    " WHERE" ZB_KEY_IS("o") " AND o.writer OPERATOR(pg_catalog.<>) 0)"

constexpr const char* read_query =
    "SELECT pg_catalog.sum(p.used)::bigint FROM billing.usage_parts p WHERE" ZB_KEY_IS("p");

constexpr const char* other_parts_query =
    "SELECT EXISTS (SELECT FROM billing.usage_parts WHERE writer OPERATOR(pg_catalog.<>) 0)";

// $4: the change, $5: the writer.  The UPDATE is the common case; the
// upsert creates the row.
constexpr const char* write_existing_query =
    "UPDATE billing.usage_parts AS u SET used = u.used OPERATOR(pg_catalog.+) $4 "
    " WHERE" ZB_KEY_IS("u") " AND u.writer OPERATOR(pg_catalog.=) $5 RETURNING u.ctid";
constexpr const char* write_query =
    "INSERT INTO billing.usage_parts AS u (tenant_id, resource, period_start, writer, used) "
    "VALUES ($1, $2, $3, $5, $4) "
    "ON CONFLICT (tenant_id, resource, period_start, writer) "
    "DO UPDATE SET used = u.used OPERATOR(pg_catalog.+) $4 RETURNING u.ctid";

// The key's writer-0 row with no usage, unless it exists: for a key with
// parts of shared-memory mode but no lock-mode row yet, a row to lock; for
// a schedule change claiming a key without any row (claim_absent_usage_row),
// the row it deletes again.
constexpr const char* zero_row_query =
    "INSERT INTO billing.usage_parts (tenant_id, resource, period_start, writer, used) "
    "VALUES ($1, $2, $3, 0, 0) ON CONFLICT DO NOTHING RETURNING ctid";
constexpr const char* unclaim_query =
    "DELETE FROM billing.usage_parts WHERE ctid OPERATOR(pg_catalog.=) $1";

// Lock mode's statements come in two versions: for a database whose usage
// is all in writer-0 rows (the usual case, and the fast one), and for one
// that also has parts left by shared-memory mode, which every check adds.
struct LockModeQueries {
    const char* lock;           // lock the writer-0 row, read the usage
    const char* admit;          // first admission: upsert within the ceiling
    const char* admit_existing; // first admission of an existing row
};

struct LockModePlans {
    SPIPlanPtr lock;
    SPIPlanPtr admit;
    SPIPlanPtr admit_existing;
};

// $4 is the amount, $5 the ceiling (the limit, or the bigint maximum when
// unlimited); the caller has checked $4 <= $5.  The plain UPDATE is one
// index probe, where the upsert probes for the conflict first.
constexpr LockModeQueries writer_zero_only = {
    "SELECT u.used FROM billing.usage_parts u "
    " WHERE" ZB_KEY_IS("u") " AND u.writer OPERATOR(pg_catalog.=) 0 FOR UPDATE",

    "INSERT INTO billing.usage_parts AS u (tenant_id, resource, period_start, writer, used) "
    "VALUES ($1, $2, $3, 0, $4) "
    "ON CONFLICT (tenant_id, resource, period_start, writer) "
    "DO UPDATE SET used = u.used OPERATOR(pg_catalog.+) $4 "
    "WHERE u.used OPERATOR(pg_catalog.<=) ($5 OPERATOR(pg_catalog.-) $4) "
    "RETURNING used",

    "UPDATE billing.usage_parts AS u SET used = u.used OPERATOR(pg_catalog.+) $4 "
    " WHERE" ZB_KEY_IS("u") " AND u.writer OPERATOR(pg_catalog.=) 0 "
    "   AND u.used OPERATOR(pg_catalog.<=) ($5 OPERATOR(pg_catalog.-) $4) "
    "RETURNING used",
};

constexpr LockModeQueries with_other_parts = {
    "SELECT u.used OPERATOR(pg_catalog.+) " ZB_OTHER_PARTS " FROM billing.usage_parts u "
    " WHERE" ZB_KEY_IS("u") " AND u.writer OPERATOR(pg_catalog.=) 0 FOR UPDATE OF u",

    "INSERT INTO billing.usage_parts AS u (tenant_id, resource, period_start, writer, used) "
    "SELECT $1, $2, $3, 0, $4 "
    " WHERE " ZB_OTHER_PARTS " OPERATOR(pg_catalog.<=) ($5 OPERATOR(pg_catalog.-) $4) "
    "ON CONFLICT (tenant_id, resource, period_start, writer) "
    "DO UPDATE SET used = u.used OPERATOR(pg_catalog.+) $4 "
    "WHERE u.used OPERATOR(pg_catalog.+) " ZB_OTHER_PARTS
    "      OPERATOR(pg_catalog.<=) ($5 OPERATOR(pg_catalog.-) $4) "
    "RETURNING u.used OPERATOR(pg_catalog.+) " ZB_OTHER_PARTS,

    "UPDATE billing.usage_parts AS u SET used = u.used OPERATOR(pg_catalog.+) $4 "
    "  FROM (SELECT " ZB_OTHER_PARTS " AS sum) others "
    " WHERE" ZB_KEY_IS("u") " AND u.writer OPERATOR(pg_catalog.=) 0 "
    "   AND u.used OPERATOR(pg_catalog.+) others.sum "
    "       OPERATOR(pg_catalog.<=) ($5 OPERATOR(pg_catalog.-) $4) "
    "RETURNING u.used OPERATOR(pg_catalog.+) others.sum",
};

LockModePlans lock_mode_plans[2] = {};

#undef ZB_OTHER_PARTS
#undef ZB_KEY_IS

// The key lock's acquisition; false when `wait` is false and another
// transaction holds it.
bool acquire_usage_key_lock(const QuotaKey& key, bool wait)
{
    // Only transactions that see one snapshot need it: see usage_store.hpp.
    if (!IsolationUsesXactSnapshot())
        return true;
    uint32 tenant_hash =
        hash_bytes(reinterpret_cast<const unsigned char*>(key.tenant_id), key.tenant_id_length);
    uint32 resource_hash =
        hash_bytes(reinterpret_cast<const unsigned char*>(key.resource), key.resource_length);
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, tenant_hash, resource_hash, usage_lock_class);
    return LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

} // namespace

void lock_usage_key(const QuotaKey& key)
{
    (void)acquire_usage_key_lock(key, true);
}

namespace {

// Runs a saved "SELECT used ... WHERE key" plan (plain or FOR UPDATE) with
// the latest snapshot.  read_only = false makes SPI advance the command
// counter first, so the read also sees this transaction's own earlier
// writes of the same statement (rows of one multi-row INSERT or COPY).  In
// a parallel query (check_quota in its leader; consumption never runs in
// one) neither is allowed: a read-only read with the query's snapshot
// (read_snapshot.hpp).
bool select_used(SPIPlanPtr* plan, const char* query, const QuotaKey& key, TimestampTz period_start,
                 int64* used)
{
    SavedUser saved;
    connect_spi_as_owner(&saved);
    if (*plan == nullptr) {
        Oid types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
        *plan = prepare_kept_plan(query, 3, types);
    }
    Datum args[3] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start)};
    // The saved plan locks usage_parts only as it runs, after the snapshot
    // below is taken: lock first.  An ALTER TABLE that rewrites the table
    // (every row written again under its transaction id), committed while
    // this waited for its lock, would leave the older snapshot an empty
    // table (check_quota would then admit past the limit).
    lock_billing_table(BillingTable::usage_parts, AccessShareLock);
    int rc = SPI_execute_snapshot(*plan, args, NULL, snapshot_for_reading(), InvalidSnapshot,
                                  reading_in_parallel_mode(), false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "zechat_billing: usage read failed: %s", SPI_result_code_string(rc));
    bool found = false;
    *used = 0;
    if (SPI_processed > 0) {
        bool isnull;
        Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        found = !isnull; // a sum over no parts is NULL
        if (found)
            *used = DatumGetInt64(value);
    }
    disconnect_spi(&saved);
    return found;
}

} // namespace

bool read_usage_parts(const QuotaKey& key, TimestampTz period_start, int64* used)
{
    return select_used(&read_plan, read_query, key, period_start, used);
}

int64 read_usage(const QuotaKey& key, TimestampTz period_start)
{
    int64 used;
    (void)select_used(&read_plan, read_query, key, period_start, &used);
    return used;
}

namespace {

// Is `index` the one 010_tables.sql makes, a valid b-tree of usage_parts
// on writer WHERE writer <> 0, whatever its name says?  One made again by
// hand under that name with another predicate would hide parts, and lock
// mode would admit past the limit.
bool holds_exactly_other_writers(Relation rel, Relation index)
{
    AttrNumber writer = column_by_name(rel, "writer");
    Form_pg_index form = index->rd_index;
    if (!form->indisvalid || form->indrelid != RelationGetRelid(rel) ||
        index->rd_rel->relam != BTREE_AM_OID || form->indnkeyatts < 1 ||
        form->indkey.values[0] != writer || writer == InvalidAttrNumber)
        return false;
    List* predicate = RelationGetIndexPredicate(index);
    if (list_length(predicate) != 1 || !IsA(linitial(predicate), OpExpr))
        return false;
    auto* test = static_cast<OpExpr*>(linitial(predicate));
    if (get_opcode(test->opno) != F_INT4NE || list_length(test->args) != 2)
        return false;
    auto* column = static_cast<Node*>(linitial(test->args));
    auto* value = static_cast<Node*>(lsecond(test->args));
    return IsA(column, Var) && reinterpret_cast<Var*>(column)->varattno == writer &&
           IsA(value, Const) && !reinterpret_cast<Const*>(value)->constisnull &&
           DatumGetInt32(reinterpret_cast<Const*>(value)->constvalue) == 0;
}

// Through the index that holds only the parts of shared-memory mode
// (usage_parts_other_writers, 010_tables.sql): whether it leads to a row the
// latest snapshot sees.  False when there is no such index (dropped by
// hand, or made again otherwise), and the caller asks the table.
bool other_parts_in_index(bool* exist)
{
    Relation rel = open_billing_table(BillingTable::usage_parts, AccessShareLock);
    Oid index_oid = get_relname_relid("usage_parts_other_writers", RelationGetNamespace(rel));
    if (!OidIsValid(index_oid)) {
        table_close(rel, NoLock);
        return false;
    }
    Relation index = index_open(index_oid, AccessShareLock);
    if (!holds_exactly_other_writers(rel, index)) {
        index_close(index, NoLock);
        table_close(rel, NoLock);
        return false;
    }
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    IndexScanDesc scan = index_beginscan(rel, index, snapshot, 0, 0);
    index_rescan(scan, nullptr, 0, nullptr, 0);
    *exist = index_getnext_slot(scan, ForwardScanDirection, slot);
    index_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    UnregisterSnapshot(snapshot);
    index_close(index, NoLock);
    table_close(rel, NoLock);
    return true;
}

// Does the database hold parts written in shared-memory mode?  Checked once
// per catalog generation: while the server runs in lock mode nobody writes
// new ones, so the answer can only change with the catalog (a dump restored
// into the database is followed by ANALYZE, which invalidates it).  Asked
// of the partial index that holds only them: a database kept in lock mode
// has none, whereas the question put to the whole table would read all of
// it, on each backend's first consumption and again after every change of
// configuration.
bool other_parts_exist()
{
    static uint64 checked_generation = 0;
    static bool exist = false;
    uint64 generation = billing_catalog_generation();
    if (checked_generation == generation)
        return exist;
    // Every caller writes usage_parts next: its lock is taken before the
    // read, or the first consumption of every backend after each REINDEX
    // TABLE of it could deadlock with the next one.
    lock_usage_parts_for_writing();
    if (!other_parts_in_index(&exist)) {
        SavedUser saved;
        connect_spi_as_owner(&saved);
        if (other_parts_plan == nullptr)
            other_parts_plan = prepare_kept_plan(other_parts_query, 0, nullptr);
        int rc = SPI_execute_snapshot(other_parts_plan, nullptr, nullptr, GetLatestSnapshot(),
                                      InvalidSnapshot, true, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "zechat_billing: usage parts check failed: %s", SPI_result_code_string(rc));
        bool isnull;
        exist =
            DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        disconnect_spi(&saved);
    }
    checked_generation = generation;
    return exist;
}

// The lock-mode plans that fit the database (see LockModeQueries).
LockModePlans& lock_mode_plans_now(const LockModeQueries** queries)
{
    bool others = other_parts_exist();
    *queries = others ? &with_other_parts : &writer_zero_only;
    return lock_mode_plans[others ? 1 : 0];
}

} // namespace

namespace {

// Connected as the owner: zero_row_query.  True, with the new row's ctid,
// when it inserted it.  With the latest snapshot, as every write of lock
// mode: ON CONFLICT waits for a transaction inserting the row, then sees it.
bool insert_zero_row(const QuotaKey& key, TimestampTz period_start, Datum* ctid)
{
    if (zero_row_plan == nullptr) {
        Oid types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
        zero_row_plan = prepare_kept_plan(zero_row_query, 3, types);
    }
    Datum args[3] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start)};
    int rc = execute_own_usage_parts_write(zero_row_plan, args, 0);
    if (rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "zechat_billing: usage row creation failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        return false;
    bool isnull;
    *ctid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return true;
}

} // namespace

bool lock_usage_row(const QuotaKey& key, TimestampTz period_start, int64* used)
{
    // The row is written at commit, but locked FOR UPDATE below (the
    // table's RowShareLock) until then: the writer's lock is taken first,
    // or the COMMIT of a release could deadlock with a REINDEX TABLE begun
    // in between.
    lock_usage_parts_for_writing();
    const LockModeQueries* queries;
    LockModePlans& plans = lock_mode_plans_now(&queries);
    // The usual case, as in add_usage_within: without the executor.
    if (queries == &writer_zero_only && lock_writer_zero_row(key, period_start, used))
        return true;
    if (select_used(&plans.lock, queries->lock, key, period_start, used))
        return true;
    if (!select_used(&read_plan, read_query, key, period_start, used))
        return false; // no usage at all
    // Only parts written in shared-memory mode: add a row to lock.
    SavedUser saved;
    connect_spi_as_owner(&saved);
    Datum ignored;
    (void)insert_zero_row(key, period_start, &ignored);
    disconnect_spi(&saved);
    return select_used(&plans.lock, queries->lock, key, period_start, used);
}

void lock_usage_row_without_waiting(const QuotaKey& key, TimestampTz period_start)
{
    lock_usage_parts_for_writing();
    if (!acquire_usage_key_lock(key, false))
        refuse_usage_row_wait(key, period_start, InvalidTransactionId);
    // 55P03 from the row lock itself when another transaction holds the row
    // or writes it.  No row to lock: a first admission in flight may be
    // inserting it, which the latest snapshot does not show and the insert
    // after this would wait for.
    volatile bool locked = false;
    MemoryContext context = CurrentMemoryContext;
    PG_TRY();
    {
        int64 used;
        locked = lock_writer_zero_row(key, period_start, &used, RowLockWait::refuse);
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        ErrorData* error = CopyErrorData();
        if (error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
            note_refused_usage_row(key, period_start);
        FreeErrorData(error);
        PG_RE_THROW();
    }
    PG_END_TRY();
    if (!locked) {
        TransactionId inserting = writer_zero_row_in_flight(key, period_start);
        if (TransactionIdIsValid(inserting))
            refuse_usage_row_wait(key, period_start, inserting);
    }
}

bool claim_absent_usage_row(const QuotaKey& key, TimestampTz period_start)
{
    SavedUser saved;
    connect_spi_as_owner(&saved);
    Datum ctid;
    bool claimed = insert_zero_row(key, period_start, &ctid);
    if (claimed) {
        if (unclaim_plan == nullptr) {
            Oid types[1] = {TIDOID};
            unclaim_plan = prepare_kept_plan(unclaim_query, 1, types);
        }
        Datum unclaim_args[1] = {ctid};
        int rc = execute_own_usage_parts_write(unclaim_plan, unclaim_args, 0);
        if (rc != SPI_OK_DELETE || SPI_processed != 1)
            elog(ERROR, "zechat_billing: releasing a claimed usage row failed: %s",
                 SPI_result_code_string(rc));
    }
    disconnect_spi(&saved);
    return claimed;
}

bool add_usage_within(const QuotaKey& key, TimestampTz period_start, int64 amount, int64 ceiling,
                      int64* new_used)
{
    const LockModeQueries* queries;
    LockModePlans& plans = lock_mode_plans_now(&queries);
    // The usual case, an existing row and no parts of shared-memory mode:
    // the same lock, check and write as admit_existing, without the
    // executor (usage_part_rows.hpp).
    if (queries == &writer_zero_only) {
        switch (admit_on_writer_zero_row(key, period_start, amount, ceiling, new_used)) {
        case LockedAdmission::admitted:
            return true;
        case LockedAdmission::no_room:
            return false;
        case LockedAdmission::not_found:
            break; // the upsert below creates the row
        }
    }
    SavedUser saved;
    connect_spi_as_owner(&saved);
    // Each kept as soon as it is prepared: if the second fails, the first is
    // not prepared (and saved) again by the next call.
    Oid admit_types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID};
    if (plans.admit_existing == nullptr)
        plans.admit_existing = prepare_kept_plan(queries->admit_existing, 5, admit_types);
    if (plans.admit == nullptr)
        plans.admit = prepare_kept_plan(queries->admit, 5, admit_types);
    Datum args[5] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start), Int64GetDatum(amount),
                     Int64GetDatum(ceiling)};
    // READ COMMITTED: the UPDATE waits for the row's lock and re-checks its
    // WHERE on the newest version.  REPEATABLE READ / SERIALIZABLE hold the
    // advisory key lock, so nobody else writes the row and the latest
    // snapshot finds it unchanged.  When the UPDATE finds nothing (no row
    // yet, or no room) the upsert decides: it inserts a missing row, or
    // locks the existing one and writes nothing.
    int rc = execute_own_usage_parts_write(plans.admit_existing, args, 1);
    if (rc == SPI_OK_UPDATE_RETURNING && SPI_processed == 0)
        rc = execute_own_usage_parts_write(plans.admit, args, 1);
    if (rc != SPI_OK_UPDATE_RETURNING && rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "zechat_billing: usage admission failed: %s", SPI_result_code_string(rc));
    bool written = SPI_processed > 0;
    if (written) {
        bool isnull;
        *new_used =
            DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    }
    disconnect_spi(&saved);
    return written;
}

void add_usage(const QuotaKey& key, TimestampTz period_start, int writer, int64 delta,
               ItemPointerData* location)
{
    // Lock mode at commit, a key this transaction changed more than once:
    // its row is locked already, and is written in place, as the first
    // admission wrote it (through SQL it would cost many times more per
    // key).  Only a row that does not exist yet (a release of a key with no
    // usage) takes the statement below.
    if (writer == lock_mode_writer && location == nullptr) {
        int64 new_used;
        switch (admit_on_writer_zero_row(key, period_start, delta, PG_INT64_MAX, &new_used)) {
        case LockedAdmission::admitted:
            return;
        case LockedAdmission::no_room:
            report_past_bigint(key.resource, key.tenant_id);
        case LockedAdmission::not_found:
            break;
        }
    }
    SavedUser saved;
    connect_spi_as_owner(&saved);
    Oid write_types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT4OID};
    if (write_existing_plan == nullptr) // each kept at once, as in add_usage_within
        write_existing_plan = prepare_kept_plan(write_existing_query, 5, write_types);
    if (write_plan == nullptr)
        write_plan = prepare_kept_plan(write_query, 5, write_types);
    Datum args[5] = {CStringGetTextDatum(key.tenant_id), CStringGetTextDatum(key.resource),
                     TimestampTzGetDatum(period_start), Int64GetDatum(delta),
                     Int32GetDatum(writer)};
    // Nobody else writes this row now: in lock mode this transaction holds
    // its lock (the first admission or lock_usage_row took it); in
    // shared-memory mode it is this backend's own.
    int rc = execute_own_usage_parts_write(write_existing_plan, args, 1);
    if (rc == SPI_OK_UPDATE_RETURNING && SPI_processed == 0)
        rc = execute_own_usage_parts_write(write_plan, args, 1);
    if ((rc != SPI_OK_UPDATE_RETURNING && rc != SPI_OK_INSERT_RETURNING) || SPI_processed != 1)
        elog(ERROR, "zechat_billing: usage write failed: %s", SPI_result_code_string(rc));
    if (location != nullptr) {
        bool isnull;
        Datum ctid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        if (!isnull)
            *location = *reinterpret_cast<ItemPointer>(DatumGetPointer(ctid));
    }
    disconnect_spi(&saved);
}

} // namespace zechat::billing::pg
