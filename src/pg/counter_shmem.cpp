#include "counter_shmem.hpp"

#include <algorithm>

#include "../core/absent_key_moves.hpp"
#include "../core/counter_table.hpp"
#include "absent_moves.hpp"
#include "billing_catalog.hpp"
#include "pg_boundary.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"
}

namespace zechat::billing::pg {

int zb_max_counters = 50000;

namespace {

constexpr const char* tranche_name = "zechat_billing";
constexpr const char* shmem_name = "zechat_billing counters";

// Lives in shared memory; set up once by the postmaster's startup hook (or
// the first backend on EXEC_BACKEND builds).
struct SharedCounters {
    LWLock* lock;
    ConditionVariable loaded;        // broadcast when a load finishes or fails
    ConditionVariable settled;       // broadcast when a moved counter's last pass settles
    pg_atomic_uint64 config_changes; // config_changes_committed()
    pg_atomic_uint32 config_changes_committing; // config_change_committing()
    // The counter table follows, aligned, then the moves of absent keys.
};

constexpr Size table_offset = MAXALIGN(sizeof(SharedCounters)) + 64;

// Moves of keys without a counter that can be in flight at once (160 bytes
// each); past that, a moving transaction stands for its whole database.
constexpr uint32_t absent_move_slots = 1024;

SharedCounters* shared = nullptr;
shmem_request_hook_type previous_request_hook = nullptr;
shmem_startup_hook_type previous_startup_hook = nullptr;

Size absent_moves_offset()
{
    return add_size(table_offset,
                    MAXALIGN(CounterTable::bytes_for(static_cast<uint32_t>(zb_max_counters))));
}

Size shared_size()
{
    return add_size(absent_moves_offset(), AbsentKeyMoves::bytes_for(absent_move_slots));
}

void on_shmem_request()
{
    if (previous_request_hook != nullptr)
        previous_request_hook();
    RequestAddinShmemSpace(shared_size());
    RequestNamedLWLockTranche(tranche_name, 1);
}

void on_shmem_startup()
{
    if (previous_startup_hook != nullptr)
        previous_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    shared = static_cast<SharedCounters*>(ShmemInitStruct(shmem_name, shared_size(), &found));
    if (!found) {
        shared->lock = &(GetNamedLWLockTranche(tranche_name))[0].lock;
        ConditionVariableInit(&shared->loaded);
        ConditionVariableInit(&shared->settled);
        pg_atomic_init_u64(&shared->config_changes, 0);
        pg_atomic_init_u32(&shared->config_changes_committing, 0);
        CounterTable::format(reinterpret_cast<char*>(shared) + table_offset,
                             static_cast<uint32_t>(zb_max_counters));
        AbsentKeyMoves::format(reinterpret_cast<char*>(shared) + absent_moves_offset(),
                               absent_move_slots);
    }
    LWLockRelease(AddinShmemInitLock);
}

CounterTable* table()
{
    return CounterTable::attach(reinterpret_cast<char*>(shared) + table_offset);
}

AbsentKeyMoves* absent_moves()
{
    return AbsentKeyMoves::attach(reinterpret_cast<char*>(shared) + absent_moves_offset());
}

const char* counter_state_name(CounterState state)
{
    switch (state) {
    case CounterState::loading:
        return "loading";
    case CounterState::ready:
        return "ready";
    default:
        return "free";
    }
}

// One entry as billing.counters shows it, copied out under the lock.
struct CounterRow {
    CounterKey key;
    CounterState state;
    int64 committed;
    int64 reserved;
    int64 releasing;
    int64 carried_elsewhere;
    Limit limit;
};

// Entries looked at per hold of the lock by what goes through the whole
// table (billing.counters, DROP DATABASE): every consumption waits for the
// lock meanwhile, and the table can hold millions of entries.
constexpr uint32 entries_per_hold = 1024;

// Between two such holds.  An LWLock is not handed over: the backends a
// release wakes try again when they get to run, by when a loop that took
// the lock straight back holds it again, and a million short holds would
// shut them out as long as one long hold does (measured: consumption
// stopped for the 3 s a DROP DATABASE took to go through 10 million
// entries).  A short sleep lets them have their turn.
void let_waiters_have_the_lock()
{
    pg_usleep(100);
}

// Rows copied out of the table, in memory of the caller's context.
struct CopiedRows {
    CounterRow* rows;
    uint32 count;
    uint32 room;
};

// Copies the entries of this database and installation among entries
// [first, first + entries_per_hold) onto `copied`.  The caller holds the
// lock; plain data only, but the rows may have to grow.
void copy_counter_rows(uint32 first, uint32 store, CopiedRows* copied)
{
    CounterTable* counters = table();
    uint32 end = std::min(counters->capacity(), first + entries_per_hold);
    if (copied->room - copied->count < end - first) {
        copied->room = std::max(copied->room * 2, copied->count + entries_per_hold);
        copied->rows = static_cast<CounterRow*>(
            repalloc_huge(copied->rows, sizeof(CounterRow) * static_cast<Size>(copied->room)));
    }
    for (uint32 i = first; i < end; ++i) {
        const CounterEntry* entry = counters->entry_at(i);
        if ((entry->state != CounterState::ready && entry->state != CounterState::loading) ||
            entry->key.database != MyDatabaseId)
            continue;
        if (entry->key.store != store)
            continue; // left by an earlier installation of the extension
        if (entry->key.period_start == group_period)
            continue; // no counter: the group of a moved tenant's periods
        copied->rows[copied->count++] =
            CounterRow{entry->key,      entry->state,     entry->committed,
                       entry->reserved, entry->releasing, counters->carried_elsewhere(*entry),
                       entry->limit};
    }
}

// Reads of the table a stretch at a time before the one that holds the lock
// throughout.
constexpr int stretched_reads = 3;

// The entries of this database and installation.  Read a stretch at a time,
// releasing the lock in between, and kept only if no key was placed
// meanwhile: a key evicted and placed again in another entry would be seen
// twice, or not at all.  Each row is an entry as it was when read, not all
// at one instant; a key placed or removed during the read may be there or
// not.  Should keys be placed during every try (a full table evicting for
// new keys all the time), the last holds the lock throughout, copying plain
// data only.
void read_counter_rows(uint32 store, CopiedRows* copied)
{
    for (int attempt = 0;; ++attempt) {
        bool hold_throughout = attempt == stretched_reads;
        copied->count = 0;
        LWLockAcquire(shared->lock, LW_SHARED);
        uint64 placements = table()->placements();
        for (uint32 first = 0; first < table()->capacity(); first += entries_per_hold) {
            if (first > 0 && !hold_throughout) {
                LWLockRelease(shared->lock);
                let_waiters_have_the_lock();
                LWLockAcquire(shared->lock, LW_SHARED);
            }
            copy_counter_rows(first, store, copied);
        }
        bool unchanged = table()->placements() == placements;
        LWLockRelease(shared->lock);
        if (unchanged || hold_throughout)
            return;
    }
}

// billing._counters(): the entries of this database and installation of the
// extension, for billing.counters.
// No rows when the library was not preloaded (lock mode keeps no counters).
Datum counters_body(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (shared == nullptr)
        return (Datum)0;
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    uint32 store = static_cast<uint32>(billing_usage_relation());
    CopiedRows copied{static_cast<CounterRow*>(palloc(sizeof(CounterRow) * entries_per_hold)), 0,
                      entries_per_hold};
    read_counter_rows(store, &copied);
    // The rows are built with the lock released: that allocates, and may
    // write the tuple store out to disk.
    for (uint32 r = 0; r < copied.count; ++r) {
        const CounterRow& row = copied.rows[r];
        // An installation not yet updated to 1.1 has no carried_in column:
        // the tuple store takes the columns its descriptor has.
        Datum values[9];
        bool nulls[9] = {false, false, false, false, false, false, false, false, false};
        values[0] = CStringGetTextDatum(row.key.tenant_id);
        values[1] = CStringGetTextDatum(row.key.resource);
        values[2] = TimestampTzGetDatum(row.key.period_start);
        nulls[2] = TIMESTAMP_IS_NOBEGIN(row.key.period_start);
        values[3] = Int64GetDatum(row.committed);
        values[4] = Int64GetDatum(row.reserved);
        values[5] = Int64GetDatum(row.releasing);
        values[6] = Int64GetDatum(row.limit.value);
        nulls[6] = row.limit.unlimited;
        values[7] = CStringGetTextDatum(counter_state_name(row.state));
        values[8] = Int64GetDatum(row.carried_elsewhere);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    pfree(copied.rows);
    return (Datum)0;
}

// A load that failed: the slot is freed, and the waiters, woken, retry.
void abandon_load(int, Datum entry)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    table()->abandon_load(reinterpret_cast<CounterEntry*>(DatumGetPointer(entry)));
    LWLockRelease(shared->lock);
    ConditionVariableBroadcast(&shared->loaded);
}

// Reads the committed usage of a just placed entry and publishes it.  If
// that fails, the slot is freed before the error goes on, and also when the
// backend exits with FATAL (pg_terminate_backend during the read), which
// does not unwind through PG_CATCH: PG_ENSURE_ERROR_CLEANUP covers both.
// Otherwise the entry would stay "loading" and every later consumption of
// the key would wait for it until a restart (counter_load_terminated.sh).
// When a transaction prepared in lock mode still writes the key's usage,
// the slot is freed too and that transaction returned, for the caller to
// wait for outside the load (prepared_across_modes.sh).
// No C++ object lives in this frame: the error longjmps through.
TransactionId load_counter(CounterEntry* entry, const QuotaKey& key, TimestampTz period_start)
{
    int64 committed = 0;
    TransactionId writing = InvalidTransactionId;
    PG_ENSURE_ERROR_CLEANUP(abandon_load, PointerGetDatum(entry));
    {
        // Checked before the read: nothing on this server starts writing
        // that row while the key has no counter, so a read that follows a
        // check finding no writer misses nothing.
        writing = writer_zero_row_in_flight(key, period_start);
        if (!TransactionIdIsValid(writing))
            (void)read_usage_parts(key, period_start, &committed);
    }
    PG_END_ENSURE_ERROR_CLEANUP(abandon_load, PointerGetDatum(entry));
    if (TransactionIdIsValid(writing)) {
        abandon_load(0, PointerGetDatum(entry));
        return writing;
    }
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    table()->finish_load(entry, committed);
    LWLockRelease(shared->lock);
    ConditionVariableBroadcast(&shared->loaded);
    return InvalidTransactionId;
}

// The key's counter, pinned if it is ready, or placed in state "loading"
// (*placed) for the caller to load; nullptr when the table is full.  A key
// without a counter is placed only once this transaction holds the locks
// its load takes (lock_usage_parts_for_reading).
CounterEntry* pin_or_place(const CounterKey& counter_key, bool* placed)
{
    bool may_place = false;
    *placed = false;
    for (;;) {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        CounterEntry* entry =
            may_place ? table()->find_or_place(counter_key, placed) : table()->find(counter_key);
        // Placed while a schedule change moves the key: marked by it, as
        // if the move had found the counter (counter_present_else_note_move),
        // and moved out, as its carry would have left it: a transaction
        // taking its change there from a period an earlier move left (it
        // waits for this move, then takes it on) must count in the period
        // that counts meanwhile.  Also under a record of a whole database
        // (conservatively: a key that does not move is its tenant's period
        // that counts, where its own reservations are not counted twice).
        if (*placed && absent_moves()->used() > 0) {
            if (uint64 mover = absent_moves()->mover_for(counter_key); mover != 0) {
                (void)table()->begin_move(entry, mover);
                table()->mark_moved_out(entry);
            }
        }
        bool ready = entry != nullptr && entry->state == CounterState::ready;
        if (ready)
            table()->pin(entry);
        LWLockRelease(shared->lock);
        if (ready || *placed || (entry == nullptr && may_place)) {
            ConditionVariableCancelSleep();
            return entry;
        }
        if (entry == nullptr) {
            lock_usage_parts_for_reading();
            may_place = true;
            continue;
        }
        // Another backend is loading it: wait for its broadcast, then look
        // again (the load may also have failed and freed the slot).
        ConditionVariableSleep(&shared->loaded, PG_WAIT_EXTENSION);
    }
}

CounterKey counter_key_of(const QuotaKey& key, TimestampTz period_start)
{
    return make_counter_key(MyDatabaseId, static_cast<uint32>(billing_usage_relation()),
                            key.tenant_id, static_cast<size_t>(key.tenant_id_length), key.resource,
                            static_cast<size_t>(key.resource_length), period_start);
}

// A mover that may still run, or whose end may not be seen yet.  No
// transaction runs across 2^31 transaction ids (wraparound protection stops
// assigning them first): an older mover has ended long ago, and its 32-bit
// id may now name another transaction.
bool mover_is_recent(const CounterMoves& moves)
{
    if (moves.epoch == 0 || !FullTransactionIdIsValid(moves.mover))
        return false;
    uint64 next = U64FromFullTransactionId(ReadNextFullTransactionId());
    return next - U64FromFullTransactionId(moves.mover) < (uint64(1) << 31);
}

// The last mover this backend waited for to its end.  Ended for good, its
// change seen since (this transaction took the invalidations after the
// wait, a later one at its start): a counter it marked, which keeps the mark
// until evicted, costs no round of its lock again.  A database-wide record
// of absent keys' moves (counter_present_else_note_move) marks counters of
// keys that will stay busy in the new period.
FullTransactionId mover_known_ended = InvalidFullTransactionId;

// Who records absent keys' moves, to remove them at its transaction's end:
// this backend's slot, which no other backend uses while it runs.
uint32 absent_moves_owner()
{
    return static_cast<uint32>(MyProc->pgprocno);
}

CounterMoves moves_of(const CounterEntry* entry)
{
    return CounterMoves{entry->move_epoch, FullTransactionIdFromU64(entry->mover)};
}

} // namespace

uint32 counter_forget_database(Oid database)
{
    if (shared == nullptr)
        return 0;
    // A stretch at a time, as nothing else of the database can come while
    // the lock is released: nobody can connect to it any more (or, for a
    // TRUNCATE, consume: a consumer takes ROW EXCLUSIVE on usage_parts).
    uint32 left = 0;
    for (uint32 first = 0; first < table()->capacity(); first += entries_per_hold) {
        if (first > 0)
            let_waiters_have_the_lock();
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        left += table()->remove_database(database, first, entries_per_hold);
        LWLockRelease(shared->lock);
    }
    return left;
}

bool counter_present(const QuotaKey& key, TimestampTz period_start)
{
    CounterKey counter_key = counter_key_of(key, period_start);
    LWLockAcquire(shared->lock, LW_SHARED);
    bool present = table()->find(counter_key) != nullptr;
    LWLockRelease(shared->lock);
    return present;
}

bool counter_present_else_note_move(const QuotaKey& key, TimestampTz period_start)
{
    CounterKey counter_key = counter_key_of(key, period_start);
    // The subtransaction, as counter_move_out marks with; for the whole
    // database, the top-level transaction, which covers the entries for
    // single keys it replaces, whichever subtransactions made them.
    FullTransactionId mover = GetCurrentFullTransactionId();
    FullTransactionId top = GetTopFullTransactionId();
    uint32 owner = absent_moves_owner();
    uint64 waited_for = 0;
    for (;;) {
        prepare_absent_move_note();
        uint64 other = 0;
        bool whole_database = false;
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        bool present = table()->find(counter_key) != nullptr;
        AbsentMoveRecorded recorded = AbsentMoveRecorded::recorded;
        if (!present) {
            recorded =
                absent_moves()->record(counter_key, U64FromFullTransactionId(mover), owner, &other);
            if (recorded == AbsentMoveRecorded::need_database) {
                whole_database = true;
                recorded = absent_moves()->record_database(
                    MyDatabaseId, U64FromFullTransactionId(top), owner, &other);
            }
        }
        LWLockRelease(shared->lock);
        if (present)
            return true;
        if (recorded == AbsentMoveRecorded::recorded) {
            note_absent_move(whole_database ? top : mover, whole_database);
            return false;
        }
        if (other == 0)
            elog(ERROR, "zechat_billing: no room to record a move of tenant %s, resource %s",
                 key.tenant_id, key.resource);
        if (other == waited_for) {
            // Ended already: its entries go a moment after its locks.
            pg_usleep(1000L);
            CHECK_FOR_INTERRUPTS();
            continue;
        }
        // Another transaction moving thousands of keys of this database (or
        // of all the others the slots can hold), or one that moved the key
        // and is ending: as lock mode waits for a row, visible to the
        // deadlock detector.
        XactLockTableWait(XidFromFullTransactionId(FullTransactionIdFromU64(other)), nullptr,
                          nullptr, XLTW_None);
        waited_for = other;
    }
}

void counter_forget_absent_moves(FullTransactionId mover)
{
    uint32 owner = absent_moves_owner();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    if (FullTransactionIdIsValid(mover))
        absent_moves()->forget_mover(owner, U64FromFullTransactionId(mover));
    else
        absent_moves()->forget_owner(owner);
    LWLockRelease(shared->lock);
}

namespace {

// refuse_counters_in_this_transaction(): the transaction that may not.
LocalTransactionId counters_refused_in = InvalidLocalTransactionId;

[[noreturn]] void report_counters_exhausted(const QuotaKey& key)
{
    ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                    errmsg("zechat_billing: all %d usage counters are in use", zb_max_counters),
                    errdetail("Every counter in shared memory belongs to a transaction in flight, "
                              "so none can be evicted for tenant %s, resource %s.",
                              key.tenant_id, key.resource),
                    errhint("Raise zechat_billing.max_counters (needs a restart).")));
    pg_unreachable();
}

} // namespace

void refuse_counters_in_this_transaction()
{
    counters_refused_in = MyProc->lxid;
}

CounterEntry* pin_counter(const QuotaKey& key, TimestampTz period_start)
{
    if (counters_refused_in == MyProc->lxid)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                        errmsg("cannot use quota in the transaction that truncated "
                               "billing.usage_parts"),
                        errhint("Commit the TRUNCATE first.")));
    CounterKey counter_key = counter_key_of(key, period_start);
    for (;;) {
        bool placed;
        CounterEntry* entry = pin_or_place(counter_key, &placed);
        if (entry == nullptr)
            report_counters_exhausted(key);
        if (!placed)
            return entry;
        TransactionId writing = load_counter(entry, key, period_start);
        if (!TransactionIdIsValid(writing))
            return entry;
        // As lock mode waits on the row: until COMMIT PREPARED or ROLLBACK
        // PREPARED, subject to lock_timeout and the deadlock detector.
        XactLockTableWait(writing, nullptr, nullptr, XLTW_None);
    }
}

Admission counter_reserve(CounterEntry* entry, int64 amount, Limit limit, int64 own_released,
                          CounterMoves* moves)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    Admission admission = table()->reserve(entry, amount, limit, own_released);
    *moves = moves_of(entry);
    LWLockRelease(shared->lock);
    return admission;
}

bool counter_pass(CounterEntry* entry, uint32 seen_epoch, CounterMoves* moves)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    bool passed = table()->pass(entry, seen_epoch);
    *moves = moves_of(entry);
    LWLockRelease(shared->lock);
    return passed;
}

void counter_unpass(CounterEntry* entry)
{
    counter_settle(entry, 0, 0, false, false, 0, true);
}

bool counter_moved_by_me(const CounterMoves& moves)
{
    // The mover is the (sub)transaction that moved: one rolled back to a
    // savepoint is not this transaction any more.
    return mover_is_recent(moves) &&
           TransactionIdIsCurrentTransactionId(XidFromFullTransactionId(moves.mover));
}

bool counter_wait_for_mover(const CounterMoves& moves)
{
    if (!mover_is_recent(moves) || counter_moved_by_me(moves) ||
        FullTransactionIdEquals(moves.mover, mover_known_ended))
        return false;
    // Waited for through its lock even when no longer shown as running: it
    // sends the invalidations that make its change seen after it leaves
    // the list of running transactions, and releases its lock only then.
    XactLockTableWait(XidFromFullTransactionId(moves.mover), nullptr, nullptr, XLTW_None);
    mover_known_ended = moves.mover;
    return true;
}

void counter_move_out(CounterEntry* entry, const QuotaKey& key, TimestampTz period_start,
                      bool own_pass)
{
    // The subtransaction: a move rolled back to a savepoint lets the
    // transactions waiting for it go on, as lock mode's row locks would.
    // A counter this transaction moved already, in a subtransaction still
    // standing, stays marked by that one: moved again in a savepoint
    // rolled back, the first move still stands, and consumers must still
    // wait for it (marked by the aborted savepoint, they would wait for
    // nothing, and this transaction would take its own move for another's
    // at commit: the tenant's usage would stay in the old period).
    FullTransactionId mover = GetCurrentFullTransactionId();
    LWLockAcquire(shared->lock, LW_SHARED);
    CounterMoves earlier = moves_of(entry);
    LWLockRelease(shared->lock);
    if (counter_moved_by_me(earlier))
        mover = earlier.mover;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    table()->begin_move(entry, U64FromFullTransactionId(mover));
    LWLockRelease(shared->lock);
    uint32 own = own_pass ? 1 : 0;
    for (;;) {
        LWLockAcquire(shared->lock, LW_SHARED);
        uint32 passing = entry->passing;
        LWLockRelease(shared->lock);
        if (passing <= own)
            break;
        // Those that passed are writing their part of the key and then
        // commit, waiting for nothing this transaction holds -- unless a
        // trigger on billing.alerts they run at commit does.  Their written
        // part names them: waiting on their transaction, rather than only
        // on the condition variable, lets the deadlock detector see that.
        TransactionId writing = any_part_row_in_flight(key, period_start);
        if (TransactionIdIsValid(writing)) {
            XactLockTableWait(writing, nullptr, nullptr, XLTW_None);
            continue;
        }
        // Passed but not yet written: a matter of microseconds.
        (void)ConditionVariableTimedSleep(&shared->settled, 10, PG_WAIT_EXTENSION);
    }
    ConditionVariableCancelSleep();
}

int64 counter_release(CounterEntry* entry, int64 amount, int64 own_reserved, int64 own_unconfirmed,
                      int64 own_released, int64* own_drawn, bool of_stored_rows)
{
    CounterTable::OwnChanges own{own_reserved, own_released, *own_drawn, own_unconfirmed};
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    int64 given = table()->release(entry, amount, &own, of_stored_rows);
    LWLockRelease(shared->lock);
    *own_drawn = own.drawn;
    return given;
}

bool counter_force(CounterEntry* entry, int64 delta, int64* own_drawn)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    bool forced = table()->force(entry, delta, own_drawn);
    LWLockRelease(shared->lock);
    return forced;
}

int64 counter_committed(CounterEntry* entry)
{
    LWLockAcquire(shared->lock, LW_SHARED);
    int64 committed = entry->committed;
    LWLockRelease(shared->lock);
    return committed;
}

int64 counter_begin_commit(CounterEntry* entry, int64 net)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    int64 before = table()->begin_commit(entry, net);
    LWLockRelease(shared->lock);
    return before;
}

void counter_settle(CounterEntry* entry, int64 reserved, int64 released, bool commit, bool unpin,
                    int64 committing, bool passed, int64 carry_excluded, int64 drawn)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    table()->settle(entry, reserved, released, commit, committing, passed, carry_excluded, drawn);
    bool mover_may_wait = passed && entry->passing == 0 && entry->move_epoch != 0;
    if (unpin)
        table()->unpin(entry);
    LWLockRelease(shared->lock);
    if (mover_may_wait)
        ConditionVariableBroadcast(&shared->settled);
}

void counter_carry_in_flight(const QuotaKey& key, CounterEntry* from, TimestampTz to,
                             int64 own_reserved, CarryUndo* undo)
{
    CounterKey to_key = counter_key_of(key, to);
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    bool carried = table()->carry_in_flight(from, to_key, own_reserved, undo);
    LWLockRelease(shared->lock);
    if (!carried)
        report_counters_exhausted(key);
}

void counter_undo_carry(CounterEntry* from, const CarryUndo& undo)
{
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    table()->undo_carry(from, undo);
    LWLockRelease(shared->lock);
}

void request_counter_shmem()
{
    previous_request_hook = shmem_request_hook;
    shmem_request_hook = on_shmem_request;
    previous_startup_hook = shmem_startup_hook;
    shmem_startup_hook = on_shmem_startup;
}

bool counter_shmem_available()
{
    return shared != nullptr;
}

uint64 config_changes_committed()
{
    return shared == nullptr ? 0 : pg_atomic_read_u64(&shared->config_changes);
}

void count_config_change_committed()
{
    if (shared != nullptr)
        (void)pg_atomic_fetch_add_u64(&shared->config_changes, 1);
}

bool config_change_committing()
{
    return shared != nullptr && pg_atomic_read_u32(&shared->config_changes_committing) != 0;
}

void count_config_change_committing(bool begins)
{
    if (shared == nullptr)
        return;
    if (begins)
        (void)pg_atomic_fetch_add_u32(&shared->config_changes_committing, 1);
    else
        (void)pg_atomic_fetch_sub_u32(&shared->config_changes_committing, 1);
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_counters, zechat::billing::pg::counters_body)
}
