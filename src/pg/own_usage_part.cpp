#include <cstring>

#include "own_usage_part.hpp"

#include "backend_hash.hpp"
#include "billing_catalog.hpp"
#include "column_access.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "common/int.h"
#include "storage/bufmgr.h"
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
    char tenant_id[64];
    char resource[48];
    TimestampTz period_start;
    int writer;
};

struct PartLocation {
    PartKey key; // hash key, must be first
    ItemPointerData tid;
};

HTAB* locations = nullptr;
uint64 locations_generation = 0;

PartKey make_part_key(const QuotaKey& key, TimestampTz period_start, int writer)
{
    PartKey k;
    std::memset(&k, 0, sizeof k);
    std::memcpy(k.tenant_id, key.tenant_id, key.tenant_id_length);
    std::memcpy(k.resource, key.resource, key.resource_length);
    k.period_start = period_start;
    k.writer = writer;
    return k;
}

// The cache, emptied when the catalog generation moved on.
HTAB* location_cache()
{
    uint64 generation = billing_catalog_generation();
    if (locations != nullptr && locations_generation != generation) {
        hash_destroy(locations);
        locations = nullptr;
    }
    if (locations == nullptr) {
        locations = create_backend_hash("zechat_billing usage part locations", 256,
                                        sizeof(PartKey), sizeof(PartLocation), TopMemoryContext);
        locations_generation = generation;
    }
    return locations;
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

// Prunes the page of the row (pinned in `buffer`) of dead versions when the
// new version would not fit on it.  Index scans prune the pages they visit,
// a fetch by TID does not: without this the page would fill with this
// backend's dead versions and the row would move to another page, with new
// index entries, while the table grows until autovacuum comes.  Only when
// needed, though: pruning walks every line pointer of the page, and a page
// of usage_parts holds about a hundred rows (most of them other keys' and
// other backends' parts), so pruning on every commit cost about as much as
// the rest of the write (see the fillfactor in 010_tables.sql).
void make_room_for(Relation rel, Buffer buffer, HeapTuple updated)
{
    // Read without the content lock, like heap_page_prune_opt itself: a hint.
    if (PageGetHeapFreeSpace(BufferGetPage(buffer)) < MAXALIGN(updated->t_len))
        heap_page_prune_opt(rel, buffer);
}

// Updates the cached row in place; false (nothing done) when there is no
// usable location.
bool update_in_place(PartLocation* location, int64 delta)
{
    if (!ItemPointerIsValid(&location->tid))
        return false;
    Relation rel = table_open(billing_usage_relation(), RowExclusiveLock);
    TupleDesc desc = RelationGetDescr(rel);
    HeapTupleData tuple;
    tuple.t_self = location->tid;
    Buffer buffer = InvalidBuffer;
    bool found = desc->natts == part_columns &&
                 ItemPointerGetBlockNumber(&tuple.t_self) < RelationGetNumberOfBlocks(rel) &&
                 heap_fetch(rel, GetLatestSnapshot(), &tuple, &buffer, false) &&
                 tuple_is_part(&tuple, desc, location->key);
    if (!found) {
        if (BufferIsValid(buffer))
            ReleaseBuffer(buffer);
        table_close(rel, RowExclusiveLock);
        return false;
    }
    Datum values[part_columns];
    bool nulls[part_columns];
    heap_deform_tuple(&tuple, desc, values, nulls);
    int64 used;
    if (nulls[col_used - 1] || pg_add_s64_overflow(DatumGetInt64(values[col_used - 1]), delta, &used))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("usage of %s by tenant %s is out of the bigint range",
                               location->key.resource, location->key.tenant_id)));
    values[col_used - 1] = Int64GetDatum(used);
    // The values point into the page: copy them out before unpinning it.
    HeapTuple updated = heap_form_tuple(desc, values, nulls);
    make_room_for(rel, buffer, updated);
    ReleaseBuffer(buffer);
    // Errors out if someone else changed the row meanwhile (only an
    // administrator editing the table by hand could).
    replace_part_row(rel, &tuple.t_self, updated);
    location->tid = updated->t_self;
    heap_freetuple(updated);
    table_close(rel, NoLock); // like any writer, keep the lock until commit
    return true;
}

} // namespace

void add_to_own_usage_part(const QuotaKey& key, TimestampTz period_start, int writer, int64 delta)
{
    PartKey k = make_part_key(key, period_start, writer);
    bool found;
    auto* location =
        static_cast<PartLocation*>(hash_search(location_cache(), &k, HASH_ENTER, &found));
    if (!found)
        ItemPointerSetInvalid(&location->tid);
    if (update_in_place(location, delta))
        return;
    // First write of this key by this backend, or the row moved: look it up
    // through the primary key; only a part that does not exist yet needs the
    // SQL statement, which creates it and says where it is.
    if (locate_part_row(key, period_start, writer, &location->tid) &&
        update_in_place(location, delta))
        return;
    ItemPointerSetInvalid(&location->tid);
    add_usage(key, period_start, writer, delta, &location->tid);
}

} // namespace zechat::billing::pg
