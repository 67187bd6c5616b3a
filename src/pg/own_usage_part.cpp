#include <cstring>

#include "own_usage_part.hpp"

#include "../core/tenant_key.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "column_access.hpp"
#include "growing_array.hpp"
#include "quota_key_fields.hpp"
#include "shared_hints.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

struct PartKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
    TimestampTz period_start;
    int writer;
};

// Where the version of the part this backend last committed is, and the
// transaction that wrote it.  Only versions whose transaction committed get
// here (end_own_usage_part_writes), so that the next write can take the
// tuple at that TID for that version, with no snapshot and no key check,
// when its xmin is still that transaction: a line pointer is reused only
// once its tuple is dead to everyone, and a new tuple carries the xid of
// the transaction that wrote it.  (An xid comes round again only after 2^32
// transactions; long before, the anti-wraparound VACUUM of usage_parts
// sends the relcache invalidation that empties this cache.  A rewrite of the
// table keeps xmins but moves rows; its invalidation empties the cache too,
// see update_committed_version.)  Whether it is still the newest version,
// heap_update says.
//
// In shared-memory mode a location may also come from the predecessor
// under the same BackendId (shared_hints.hpp), which published what it
// knew when it exited or let it go from its cache: then the rewrite shows as
// another relfilenode (the catalog generation is this backend's own), and
// the xid's age is bounded when it is published and when it is taken
// (location_from_hint), so that an xmin can never have come round again.
struct PartLocation {
    PartKey key; // hash key, must be first
    ItemPointerData tid;
    TransactionId xmin;
    Oid relfilenode; // of billing.usage_parts when it was written there
};

HTAB* locations = nullptr;
uint64 locations_generation = 0;

// This transaction's writes, for the cache once it has committed.
struct WrittenPart {
    PartKey key;
    ItemPointerData tid;
    TransactionId xmin;
    Oid relfilenode;
    SubTransactionId subxact; // that wrote it
};

WrittenPart* written = nullptr; // in TopMemoryContext
int written_count = 0;
int written_capacity = 0;
constexpr int max_kept_written = 1024; // beyond this, freed at the transaction's end
uint64 written_generation = 0;         // of the location cache they belong to
bool publishes_at_exit = false;        // publish_locations_at_exit registered

PartKey make_part_key(const QuotaKey& key, TimestampTz period_start, int writer)
{
    PartKey k;
    std::memset(&k, 0, sizeof k);
    copy_key_fields(key, k.tenant_id, k.resource);
    k.period_start = period_start;
    k.writer = writer;
    return k;
}

// A backend that writes for many tenants must not grow without bound (the
// parts of past billing periods are never written again): past this many
// entries a sixteenth of them go (evict_entries), and those parts are found
// again from their hints or by primary key.
constexpr long max_remembered_parts = 20000;
constexpr long parts_kept_on_eviction = max_remembered_parts - max_remembered_parts / 16;

// Hints older than this many transactions are not published or taken: an
// xmin is unambiguous within 2^31 transactions of the next one.
constexpr uint64 max_hint_age = uint64(1) << 30;

PartHintKey hint_key(const PartKey& key)
{
    PartHintKey hint_key;
    std::memset(&hint_key, 0, sizeof hint_key);
    hint_key.database = MyDatabaseId;
    hint_key.writer = key.writer;
    hint_key.period_start = key.period_start;
    std::memcpy(hint_key.tenant_id, key.tenant_id, sizeof key.tenant_id);
    std::memcpy(hint_key.resource, key.resource, sizeof key.resource);
    return hint_key;
}

// Shared-memory mode: hands what the cache knows of one of this backend's
// parts to its successor, if the location is young enough (`next`: the
// next transaction id, read once for many).  Only shared memory is
// touched (no catalog, no error).
void publish_location(const PartLocation& location, FullTransactionId next)
{
    if (location.key.writer <= 0 || !ItemPointerIsValid(&location.tid) ||
        !TransactionIdIsNormal(location.xmin) || !OidIsValid(location.relfilenode) ||
        XidFromFullTransactionId(next) - location.xmin >= max_hint_age)
        return;
    PartHint hint;
    std::memset(&hint, 0, sizeof hint);
    hint.tid = location.tid;
    hint.xmin = location.xmin;
    hint.relfilenode = location.relfilenode;
    hint.published_next_xid = U64FromFullTransactionId(next);
    publish_part_hint(hint_key(location.key), hint);
}

// All of them: also called at the backend's exit.
void publish_locations()
{
    if (locations == nullptr || !shared_hints_available())
        return;
    FullTransactionId next = ReadNextFullTransactionId();
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, locations);
    while (auto* location = static_cast<PartLocation*>(hash_seq_search(&scan)))
        publish_location(*location, next);
}

// Those evict_entries() lets go, as they go (evicted_next read before).
FullTransactionId evicted_next;

void publish_evicted_location(void* entry)
{
    publish_location(*static_cast<PartLocation*>(entry), evicted_next);
}

// A backend that exits in the middle of a transaction (FATAL, terminated)
// may hold LWLocks until ShutdownPostgres, which runs after this: it
// publishes nothing.
void publish_locations_at_exit(int, Datum)
{
    if (!IsTransactionOrTransactionBlock())
        publish_locations();
}

// A location found by the predecessor under this BackendId, if it is young
// enough to take.
void location_from_hint(PartLocation* location)
{
    PartHint hint;
    if (location->key.writer <= 0 || !find_part_hint(hint_key(location->key), &hint))
        return;
    uint64 next = U64FromFullTransactionId(ReadNextFullTransactionId());
    if (next - hint.published_next_xid >= max_hint_age)
        return;
    location->tid = hint.tid;
    location->xmin = hint.xmin;
    location->relfilenode = hint.relfilenode;
}

// The cache, emptied when the catalog generation moved on, a sixteenth of
// it let go when it is full.
HTAB* location_cache()
{
    uint64 generation = billing_catalog_generation();
    if (locations != nullptr && locations_generation != generation) {
        publish_locations(); // each checked again by whoever takes it
        hash_destroy(locations);
        locations = nullptr;
    } else if (locations != nullptr &&
               hash_get_num_entries(locations) >= max_remembered_parts) {
        bool publish = shared_hints_available();
        if (publish)
            evicted_next = ReadNextFullTransactionId();
        evict_entries(locations, parts_kept_on_eviction,
                      publish ? publish_evicted_location : nullptr);
    }
    if (!publishes_at_exit && shared_hints_available()) {
        before_shmem_exit(publish_locations_at_exit, (Datum)0);
        publishes_at_exit = true;
    }
    if (locations == nullptr) {
        locations = create_backend_hash("zechat_billing usage part locations", 256, sizeof(PartKey),
                                        sizeof(PartLocation), TopMemoryContext);
        locations_generation = generation;
    }
    return locations;
}

// The cache's entry of the key, a new one knowing no location yet.
PartLocation* location_of(const PartKey& key)
{
    bool found;
    auto* location =
        static_cast<PartLocation*>(hash_search(location_cache(), &key, HASH_ENTER, &found));
    if (!found) {
        ItemPointerSetInvalid(&location->tid);
        location->xmin = InvalidTransactionId;
        location->relfilenode = InvalidOid;
        location_from_hint(location);
    }
    return location;
}

bool text_column_is(HeapTuple tuple, TupleDesc desc, int column, const char* expected)
{
    bool isnull;
    Datum value = heap_getattr(tuple, column, desc, &isnull);
    return !isnull && text_datum_is(value, expected);
}

bool tuple_is_part(HeapTuple tuple, TupleDesc desc, const PartKey& key)
{
    bool isnull;
    Datum writer = heap_getattr(tuple, col_writer, desc, &isnull);
    if (isnull || DatumGetInt32(writer) != key.writer)
        return false;
    Datum period = heap_getattr(tuple, col_period_start, desc, &isnull);
    if (isnull || DatumGetTimestampTz(period) != key.period_start)
        return false;
    return text_column_is(tuple, desc, col_tenant_id, key.tenant_id) &&
           text_column_is(tuple, desc, col_resource, key.resource);
}

// Updates the version this backend last committed, found without a
// snapshot (see PartLocation); false (nothing done) when it is not there or
// someone else changed the row since (only an administrator editing the
// table by hand could).
bool update_committed_version(const PartLocation& location, int64 delta, ItemPointer written_tid)
{
    if (!ItemPointerIsValid(&location.tid) || !TransactionIdIsNormal(location.xmin))
        return false;
    Relation rel = open_billing_table(BillingTable::usage_parts, RowExclusiveLock);
    // A rewrite of the table (VACUUM FULL, CLUSTER) moves rows and keeps
    // their xmin: another row this transaction's predecessor wrote may now
    // be at the remembered place.  A rewrite takes the table's exclusive
    // lock and invalidates its relcache entry; taking the lock above read
    // that invalidation, which moved the catalog generation on, so a
    // rewrite that committed since the location was looked up shows here.
    // A location from a hint was written under another backend's
    // generation: its rewrite shows as another file.
    if (billing_catalog_generation() != locations_generation ||
        location.relfilenode != rel->rd_node.relNode) {
        table_close(rel, RowExclusiveLock);
        return false;
    }
    ItemPointerData old_tid = location.tid;
    Buffer buffer = pin_page_with_room(rel, &old_tid);
    bool done = false;
    if (BufferIsValid(buffer)) {
        HeapTuple updated = copy_committed_version(rel, location.tid, location.xmin, delta, buffer,
                                                   location.key.resource, location.key.tenant_id);
        if (updated != nullptr) {
            done = try_replace_part_row(rel, &old_tid, updated);
            if (done)
                *written_tid = updated->t_self;
            heap_freetuple(updated);
        }
        ReleaseBuffer(buffer); // only now: see pin_page_with_room
    }
    table_close(rel, done ? NoLock : RowExclusiveLock); // a writer keeps its lock until commit
    return done;
}

// Updates the row at *tid when the latest snapshot sees the part there;
// false (nothing done) otherwise.  For a location not (yet) known to hold a
// committed version of this backend.
bool update_visible_version(const PartKey& key, ItemPointer tid, int64 delta, Oid* relfilenode)
{
    Relation rel = open_billing_table(BillingTable::usage_parts, RowExclusiveLock);
    *relfilenode = rel->rd_node.relNode;
    TupleDesc desc = RelationGetDescr(rel);
    Buffer pinned = desc->natts == part_columns ? pin_page_with_room(rel, tid) : InvalidBuffer;
    HeapTupleData tuple;
    tuple.t_self = *tid;
    Buffer buffer = InvalidBuffer;
    bool found = BufferIsValid(pinned) &&
                 heap_fetch(rel, GetLatestSnapshot(), &tuple, &buffer, false) &&
                 tuple_is_part(&tuple, desc, key);
    if (BufferIsValid(pinned))
        ReleaseBuffer(pinned); // heap_fetch's pin, if it found the tuple, holds the page
    if (!found) {
        if (BufferIsValid(buffer))
            ReleaseBuffer(buffer);
        table_close(rel, RowExclusiveLock);
        return false;
    }
    Datum values[part_columns];
    bool nulls[part_columns];
    heap_deform_tuple(&tuple, desc, values, nulls);
    if (nulls[col_used - 1])
        raise_part_out_of_range(key.resource, key.tenant_id);
    int64 used = DatumGetInt64(values[col_used - 1]);
    add_to_part_used(&used, delta, key.resource, key.tenant_id);
    values[col_used - 1] = Int64GetDatum(used);
    HeapTuple updated = heap_form_tuple(desc, values, nulls);
    // Errors out if someone else changed the row meanwhile (only an
    // administrator editing the table by hand could).  The page stays
    // pinned until then: see pin_page_with_room.
    replace_part_row(rel, &tuple.t_self, updated);
    ReleaseBuffer(buffer);
    *tid = updated->t_self;
    heap_freetuple(updated);
    table_close(rel, NoLock); // like any writer, keep the lock until commit
    return true;
}

// Remembers a write of this transaction, for end_own_usage_part_writes:
// the new version at `tid` of the table's file `relfilenode`, written by
// `xmin` (this transaction or one of its subtransactions).
void remember_write(const PartKey& key, const ItemPointerData& tid, TransactionId xmin,
                    Oid relfilenode)
{
    make_room_for_item(&written, written_count, &written_capacity, 8, TopMemoryContext);
    if (written_count == 0)
        written_generation = locations_generation;
    written[written_count].key = key;
    written[written_count].tid = tid;
    written[written_count].xmin = xmin;
    written[written_count].relfilenode = relfilenode;
    written[written_count].subxact = GetCurrentSubTransactionId();
    ++written_count;
}

void remember_write(const PartKey& key, const ItemPointerData& tid, Oid relfilenode)
{
    remember_write(key, tid, GetTopTransactionId(), relfilenode);
}

// The file of billing.usage_parts, which this transaction has written.
Oid usage_parts_file()
{
    Relation rel = table_open(billing_usage_relation(), NoLock);
    Oid relfilenode = rel->rd_node.relNode;
    table_close(rel, NoLock);
    return relfilenode;
}

// This transaction's write of the key, or nullptr.
WrittenPart* written_by_this_transaction(const PartKey& key)
{
    for (int i = 0; i < written_count; ++i)
        if (std::memcmp(&written[i].key, &key, sizeof key) == 0)
            return &written[i];
    return nullptr;
}

} // namespace

void add_to_own_usage_part(const QuotaKey& key, TimestampTz period_start, int writer, int64 delta,
                           bool again)
{
    PartKey k = make_part_key(key, period_start, writer);
    if (again) {
        // The remembered committed version is now an earlier version of
        // this transaction's own update, which heap_update would refuse as
        // invisible: update the version this transaction wrote instead.
        WrittenPart* earlier = written_by_this_transaction(k);
        if (earlier != nullptr) {
            CommandCounterIncrement(); // so that the latest snapshot sees it
            ItemPointerData tid = earlier->tid;
            Oid relfilenode;
            if (update_visible_version(k, &tid, delta, &relfilenode)) {
                earlier->tid = tid;
                earlier->relfilenode = relfilenode;
                return;
            }
        }
    }
    PartLocation* location = location_of(k);
    ItemPointerData tid;
    if (update_committed_version(*location, delta, &tid)) {
        remember_write(k, tid, location->relfilenode);
        return;
    }
    // First write of this key by this backend, or the row changed: look it
    // up through the primary key; only a part that does not exist yet needs
    // the SQL statement, which creates it and says where it is.
    Oid relfilenode;
    if (locate_part_row(key, period_start, writer, &tid) &&
        update_visible_version(k, &tid, delta, &relfilenode)) {
        remember_write(k, tid, relfilenode);
        return;
    }
    ItemPointerSetInvalid(&tid);
    add_usage(key, period_start, writer, delta, &tid);
    remember_write(k, tid, ItemPointerIsValid(&tid) ? usage_parts_file() : InvalidOid);
}

bool remembered_part_version(const QuotaKey& key, TimestampTz period_start, int writer,
                             ItemPointer tid, TransactionId* xmin)
{
    PartKey k = make_part_key(key, period_start, writer);
    auto* location =
        static_cast<PartLocation*>(hash_search(location_cache(), &k, HASH_FIND, nullptr));
    if (location == nullptr || !ItemPointerIsValid(&location->tid) ||
        !TransactionIdIsNormal(location->xmin))
        return false;
    *tid = location->tid;
    *xmin = location->xmin;
    return true;
}

void remember_part_version(const QuotaKey& key, TimestampTz period_start, int writer,
                           HeapTuple written_version)
{
    PartKey k = make_part_key(key, period_start, writer);
    (void)location_of(k); // where end_own_usage_part_writes puts it
    // Lock mode's row: taken only through remembered_part_version, which
    // the catalog generation guards, never published.
    remember_write(k, written_version->t_self, HeapTupleHeaderGetRawXmin(written_version->t_data),
                   InvalidOid);
}

void forget_own_usage_part_writes_of(SubTransactionId subxact)
{
    // Subtransactions are numbered as they start, and one writes nothing
    // while a child runs: what it and its children wrote is at the end.
    while (written_count > 0 && written[written_count - 1].subxact >= subxact)
        --written_count;
}

void end_own_usage_part_writes(bool committed)
{
    if (committed && locations != nullptr && locations_generation == written_generation) {
        for (int i = 0; i < written_count; ++i) {
            auto* location = static_cast<PartLocation*>(
                hash_search(locations, &written[i].key, HASH_FIND, nullptr));
            if (location != nullptr) {
                location->tid = written[i].tid;
                location->xmin = written[i].xmin;
                location->relfilenode = written[i].relfilenode;
            }
        }
    }
    written_count = 0;
    // One transaction that wrote the parts of many keys (a bulk load over
    // thousands of tenants) must not leave every later one of this backend
    // holding an array of that size.
    if (written_capacity > max_kept_written) {
        pfree(written);
        written = nullptr;
        written_capacity = 0;
    }
}

} // namespace zechat::billing::pg
