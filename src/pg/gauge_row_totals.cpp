#include <algorithm>
#include <cstring>

#include "gauge_row_totals.hpp"

#include "backend_hash.hpp"
#include "column_access.hpp"
#include "enforced_values.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opfamily.h"
#include "common/int.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace zechat::billing::pg {

// count_row leaves out the tenants too long for the key field; those are
// the tenants that cannot be billed only while the field is exactly one
// byte wider than the longest tenant id.
static_assert(sizeof(TenantTotal::tenant_id) == max_tenant_id_bytes + 1,
              "count_row's length check is the tenant id check");

namespace {

// The base type of rel's column `attnum`, which enforcement must read.
Oid column_base_type(Relation rel, AttrNumber attnum, bool tenant)
{
    Oid type = getBaseType(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid);
    if (tenant ? !tenant_type_accepted(type) : !amount_type_accepted(type))
        ereport(
            ERROR,
            (errcode(ERRCODE_DATATYPE_MISMATCH),
             errmsg("%s column of \"%s\" is of type %s", tenant ? "tenant" : "amount",
                    RelationGetRelationName(rel), format_type_be(type)),
             errdetail(tenant ? "A tenant column must be text, varchar, uuid, bigint or integer."
                              : "An amount column must be smallint, integer or bigint.")));
    return type;
}

// Adds `amount` to the tenant's total.
void add_to_total(HTAB* totals, const char* tenant_id, size_t length, int64 amount)
{
    char key[sizeof(TenantTotal::tenant_id)];
    std::memset(key, 0, sizeof key);
    std::memcpy(key, tenant_id, length);
    bool found;
    auto* entry = static_cast<TenantTotal*>(hash_search(totals, key, HASH_ENTER, &found));
    if (!found)
        entry->total = 0;
    if (pg_add_s64_overflow(entry->total, amount, &entry->total))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("rows of tenant %s hold more than the bigint range", tenant_id)));
}

// How a scan reads a row, and which rows it counts.
struct RowReading {
    AttrNumber tenant_attnum;
    Oid tenant_type;
    AttrNumber amount_attnum; // InvalidAttrNumber: each row counts 1
    Oid amount_type;
    const char* only_tenant; // nullptr: every tenant
    MemoryContext per_row;   // what reading one row allocates (a detoasted tenant, its text form)
};

// Adds the row in `slot` to its tenant's total, if it is counted.
void count_row(const RowReading& reading, TupleTableSlot* slot, HTAB* totals)
{
    CHECK_FOR_INTERRUPTS();
    bool isnull;
    Datum tenant = slot_getattr(slot, reading.tenant_attnum, &isnull);
    if (isnull)
        return;
    int64 amount = 1;
    if (reading.amount_attnum != InvalidAttrNumber) {
        Datum value = slot_getattr(slot, reading.amount_attnum, &isnull);
        amount = isnull ? 0 : std::max<int64>(amount_value(value, reading.amount_type), 0);
    }
    MemoryContext caller = MemoryContextSwitchTo(reading.per_row);
    const char* tenant_id = tenant_id_text(tenant, reading.tenant_type);
    MemoryContextSwitchTo(caller);
    size_t length = std::strlen(tenant_id);
    if (length >= 1 && length < sizeof(TenantTotal::tenant_id) &&
        (reading.only_tenant == nullptr || std::strcmp(tenant_id, reading.only_tenant) == 0))
        add_to_total(totals, tenant_id, length, amount);
    MemoryContextReset(reading.per_row);
}

// An index of rel (opened) that leads to every row of a text tenant's, or
// nullptr: a valid b-tree index with no predicate whose first column is the
// tenant column itself, under text's default operator family, so that only
// built-in comparison runs (nothing of the table owner's, as above).  Its
// collation may be non-deterministic: it then leads to more rows, which
// count_row's byte comparison leaves out.  Applications index their tenant
// column: one tenant's recount then reads that tenant's rows, not the whole
// table, as the planned query this scan replaced did.
Relation tenant_index(Relation rel, AttrNumber tenant_attnum)
{
    List* indexes = RelationGetIndexList(rel);
    Relation found = nullptr;
    ListCell* cell;
    foreach (cell, indexes) {
        Relation index = index_open(lfirst_oid(cell), AccessShareLock);
        Form_pg_index form = index->rd_index;
        // As the planner: an index built over broken HOT chains serves only
        // snapshots newer than it.
        bool usable_now =
            !form->indcheckxmin ||
            TransactionIdPrecedes(HeapTupleHeaderGetXmin(index->rd_indextuple->t_data),
                                  TransactionXmin);
        if (index->rd_rel->relam == BTREE_AM_OID && form->indisvalid && usable_now &&
            form->indkey.values[0] == tenant_attnum &&
            index->rd_opfamily[0] == TEXT_BTREE_FAM_OID &&
            heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr)) {
            found = index;
            break;
        }
        index_close(index, AccessShareLock);
    }
    list_free(indexes);
    return found;
}

} // namespace

HTAB* sum_rows_per_tenant(Relation rel, AttrNumber tenant_attnum, AttrNumber amount_attnum,
                          const char* only_tenant, Snapshot snapshot)
{
    HTAB* totals =
        create_backend_hash("zechat_billing tenant totals", 256, sizeof(TenantTotal::tenant_id),
                            sizeof(TenantTotal), CurrentMemoryContext);
    if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
        return totals;
    RowReading reading;
    reading.tenant_attnum = tenant_attnum;
    reading.tenant_type = column_base_type(rel, tenant_attnum, true);
    reading.amount_attnum = amount_attnum;
    reading.amount_type = amount_attnum == InvalidAttrNumber
                              ? InvalidOid
                              : column_base_type(rel, amount_attnum, false);
    reading.only_tenant = only_tenant;
    reading.per_row = AllocSetContextCreate(CurrentMemoryContext, "zechat_billing row read",
                                            ALLOCSET_SMALL_SIZES);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    Relation index = only_tenant == nullptr ? nullptr : tenant_index(rel, tenant_attnum);
    if (index != nullptr) {
        ScanKeyData key;
        ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(only_tenant));
        key.sk_collation = index->rd_indcollation[0];
        IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
        index_rescan(scan, &key, 1, nullptr, 0);
        while (index_getnext_slot(scan, ForwardScanDirection, slot))
            count_row(reading, slot, totals);
        index_endscan(scan);
        index_close(index, NoLock);
    } else {
        TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
        while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
            count_row(reading, slot, totals);
        table_endscan(scan);
    }
    ExecDropSingleTupleTableSlot(slot);
    MemoryContextDelete(reading.per_row);
    return totals;
}

} // namespace zechat::billing::pg

namespace {

using namespace zechat::billing::pg;

// A column named by an argument of billing._gauge_row_totals.
AttrNumber named_column(Relation rel, FunctionCallInfo fcinfo, int argument)
{
    const char* name = NameStr(*PG_GETARG_NAME(argument));
    AttrNumber attnum = column_by_name(rel, name);
    if (attnum == InvalidAttrNumber)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("column \"%s\" of relation \"%s\" does not exist", name,
                               RelationGetRelationName(rel))));
    return attnum;
}

// billing._gauge_row_totals(tbl, tenant_column, amount_column, tenant_id):
// (tenant_id, total) for each tenant of tbl's own rows, as
// sum_rows_per_tenant; amount_column NULL counts rows, tenant_id NULL
// means every tenant.  With the active snapshot: the statements of
// _execute_after_locks, which run with the latest one.  The caller has
// locked tbl.
Datum gauge_row_totals_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("table and tenant column must not be NULL")));
    Relation rel = table_open(PG_GETARG_OID(0), AccessShareLock);
    // What enforce_quota accepts, and their partitions: a foreign table's
    // rows are not this server's to scan.
    char relkind = rel->rd_rel->relkind;
    if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("cannot count the rows of \"%s\": not a table of this server",
                               RelationGetRelationName(rel))));
    AttrNumber tenant_attnum = named_column(rel, fcinfo, 1);
    AttrNumber amount_attnum = PG_ARGISNULL(2) ? InvalidAttrNumber : named_column(rel, fcinfo, 2);
    const char* only_tenant = PG_ARGISNULL(3) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(3));
    HTAB* totals =
        sum_rows_per_tenant(rel, tenant_attnum, amount_attnum, only_tenant, GetActiveSnapshot());
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, totals);
    while (auto* entry = static_cast<TenantTotal*>(hash_seq_search(&seq))) {
        Datum values[2] = {CStringGetTextDatum(entry->tenant_id), Int64GetDatum(entry->total)};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    hash_destroy(totals);
    table_close(rel, NoLock); // as any reader, keep the lock until the transaction ends
    return (Datum)0;
}

} // namespace

extern "C" {
ZB_GUARDED_ENTRY(zb_gauge_row_totals, gauge_row_totals_body)
}
