#include <algorithm>
#include <cstring>

#include "statement_inserts.hpp"

#include "../core/tenant_key.hpp"

#include "admission.hpp"
#include "backend_hash.hpp"
#include "enforced_values.hpp"
#include "sort_orders.hpp"
#include "uncounted_rows.hpp"
#include "usage_release.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"
}

using namespace zechat::billing;
using namespace zechat::billing::pg;

namespace {

// A tenant as its column holds it: the bytes of a text value, a uuid's 16
// bytes, an integer as an int64.  Turned into a tenant id once per tenant,
// not once per row.  Built zeroed (a hash key compared as bytes); 72 bytes,
// so it hashes a word at a time.
struct TenantBytes {
    uint32 length;
    char bytes[68];
};
static_assert(sizeof(TenantBytes) % sizeof(uint64) == 0, "hashed by words");
static_assert(sizeof(TenantBytes::bytes) > max_tenant_id_bytes, "holds every tenant id");

struct TenantTotal {
    TenantBytes tenant; // hash key
    int64 total;
};

// Reads the tenant of the row in `slot` into `tenant`.
void read_tenant(Relation rel, TupleTableSlot* slot, const InsertedRowColumns& columns,
                 TenantBytes* tenant)
{
    bool isnull;
    Datum value = slot_getattr(slot, columns.tenant_attnum, &isnull);
    if (isnull)
        refuse_null_tenant(rel, columns.resource);
    std::memset(tenant, 0, sizeof *tenant);
    switch (columns.tenant_type) {
    case UUIDOID:
        tenant->length = UUID_LEN;
        std::memcpy(tenant->bytes, DatumGetUUIDP(value), UUID_LEN);
        return;
    case INT8OID:
    case INT4OID: {
        int64 number = columns.tenant_type == INT8OID ? DatumGetInt64(value) : DatumGetInt32(value);
        tenant->length = sizeof number;
        std::memcpy(tenant->bytes, &number, sizeof number);
        return;
    }
    default:
        break;
    }
    struct varlena* text = PG_DETOAST_DATUM_PACKED(value);
    size_t length = VARSIZE_ANY_EXHDR(text);
    if (length > max_tenant_id_bytes) // refused with the usual error
        (void)make_quota_key(tenant_id_text(value, columns.tenant_type), columns.resource);
    tenant->length = static_cast<uint32>(length);
    std::memcpy(tenant->bytes, VARDATA_ANY(text), length);
    if (reinterpret_cast<Pointer>(text) != DatumGetPointer(value))
        pfree(text);
}

const char* tenant_id_of(const TenantBytes& tenant, Oid type)
{
    int64 number;
    switch (type) {
    case UUIDOID:
        return tenant_id_text(UUIDPGetDatum(reinterpret_cast<const pg_uuid_t*>(tenant.bytes)),
                              type);
    case INT8OID:
        std::memcpy(&number, tenant.bytes, sizeof number);
        return tenant_id_text(Int64GetDatum(number), type);
    case INT4OID:
        std::memcpy(&number, tenant.bytes, sizeof number);
        return tenant_id_text(Int32GetDatum(static_cast<int32>(number)), type);
    default:
        return pnstrdup(tenant.bytes, tenant.length);
    }
}

int64 read_amount(Relation rel, TupleTableSlot* slot, const InsertedRowColumns& columns)
{
    if (columns.amount_attnum == InvalidAttrNumber)
        return 1;
    bool isnull;
    Datum value = slot_getattr(slot, columns.amount_attnum, &isnull);
    if (isnull)
        return 0;
    int64 amount = amount_value(value, columns.amount_type);
    if (amount < 0)
        refuse_negative_amount(rel, amount);
    return amount;
}

void add_amount(Relation rel, const InsertedRowColumns& columns, TenantTotal* total, int64 amount)
{
    if (__builtin_add_overflow(total->total, amount, &total->total))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("the amounts of %s that one statement inserted into \"%s\" for "
                               "tenant \"%s\" are out of range for bigint",
                               columns.resource, RelationGetRelationName(rel),
                               tenant_id_of(total->tenant, columns.tenant_type))));
}

// The sums per tenant of one statement's rows.  Most statements insert rows
// of one tenant (a one-row INSERT above all): their sum is kept in `first`,
// and the hash of sums is made only when a second tenant turns up (it then
// holds the first tenant too).
struct StatementTotals {
    bool any_row;
    TenantTotal first;
    HTAB* per_tenant;
};

void add_row(Relation rel, const InsertedRowColumns& columns, StatementTotals* totals,
             const TenantBytes& tenant, int64 amount, MemoryContext context)
{
    if (!totals->any_row) {
        totals->any_row = true;
        totals->first.tenant = tenant;
        totals->first.total = 0;
    }
    if (totals->per_tenant == nullptr &&
        std::memcmp(&tenant, &totals->first.tenant, sizeof tenant) == 0) {
        add_amount(rel, columns, &totals->first, amount);
        return;
    }
    bool found;
    if (totals->per_tenant == nullptr) {
        totals->per_tenant = create_backend_hash("zechat_billing totals per tenant", 256,
                                                 sizeof(TenantBytes), sizeof(TenantTotal), context);
        auto* first = static_cast<TenantTotal*>(
            hash_search(totals->per_tenant, &totals->first.tenant, HASH_ENTER, &found));
        first->total = totals->first.total;
    }
    auto* entry =
        static_cast<TenantTotal*>(hash_search(totals->per_tenant, &tenant, HASH_ENTER, &found));
    if (!found)
        entry->total = 0;
    add_amount(rel, columns, entry, amount);
}

// A tenant's sum and its id as text (the id its usage is kept under).
struct TenantSum {
    const char* tenant_id;
    int64 total;
};

// Less what rows of the sum deleted or updated since were credited
// (uncounted_rows.hpp).
void consume_sum(const TenantSum& sum, const InsertedRowColumns& columns,
                 const StatementCredits* credits)
{
    // Validated even when there is nothing to admit, as the row trigger
    // validates a row of amount 0.
    QuotaKey key = make_quota_key(sum.tenant_id, columns.resource);
    int64 total = std::max<int64>(sum.total - credit_of(credits, sum.tenant_id), 0);
    if (total == 0)
        return;
    QuotaRemaining ignored;
    consume_quota(key, total, OnRefusal::raise_pt402, &ignored);
}

// Tenant by tenant, in the order of their ids as text (statement_inserts.hpp):
// the same order for every table, whatever the type of its tenant column.
void consume_totals(const StatementTotals& totals, const InsertedRowColumns& columns,
                    const StatementCredits* credits)
{
    if (totals.per_tenant == nullptr) {
        if (totals.any_row)
            consume_sum(TenantSum{tenant_id_of(totals.first.tenant, columns.tenant_type),
                                  totals.first.total},
                        columns, credits);
        return;
    }
    long count = hash_get_num_entries(totals.per_tenant);
    auto* sums = static_cast<TenantSum*>(palloc(sizeof(TenantSum) * count));
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, totals.per_tenant);
    long n = 0;
    while (auto* entry = static_cast<TenantTotal*>(hash_seq_search(&status)))
        sums[n++] = TenantSum{tenant_id_of(entry->tenant, columns.tenant_type), entry->total};
    qsort(sums, count, sizeof *sums, by_tenant_id<TenantSum>);
    for (long i = 0; i < count; ++i)
        consume_sum(sums[i], columns, credits);
}

// What updates of the statement's rows consumed for new versions they then
// did not write (uncounted_rows.hpp), given back before the sums are
// admitted, so that it cannot make them pass the limit.
void give_back_skipped_updates(const StatementCredits* credits, const InsertedRowColumns& columns)
{
    for (int i = 0; i < skipped_update_count(credits); ++i) {
        SkippedUpdates skipped = skipped_update(credits, i);
        release_quota(make_quota_key(skipped.tenant, columns.resource), skipped.consumed,
                      ReleaseOf::caller);
    }
}

} // namespace

namespace zechat::billing::pg {

void consume_inserted_rows(Relation rel, Tuplestorestate* rows, const InsertedRowColumns& columns)
{
    MemoryContext context = AllocSetContextCreate(
        CurrentMemoryContext, "zechat_billing inserted rows", ALLOCSET_SMALL_SIZES);
    MemoryContext caller = MemoryContextSwitchTo(context);
    TupleTableSlot* slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
    // A reader of our own: other triggers of the statement read the same
    // transition table.
    tuplestore_select_read_pointer(rows, tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
    tuplestore_rescan(rows);

    StatementTotals totals{};
    TenantBytes tenant;
    while (tuplestore_gettupleslot(rows, true, false, slot)) {
        CHECK_FOR_INTERRUPTS();
        read_tenant(rel, slot, columns, &tenant);
        add_row(rel, columns, &totals, tenant, read_amount(rel, slot, columns), context);
    }
    ExecDropSingleTupleTableSlot(slot);

    StatementCredits* credits = count_statement(rel, columns.resource);
    give_back_skipped_updates(credits, columns);
    consume_totals(totals, columns, credits);
    MemoryContextSwitchTo(caller);
    MemoryContextDelete(context);
}

} // namespace zechat::billing::pg
