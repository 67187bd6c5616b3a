#include "counter_shmem_internal.hpp"

#include "../core/absent_key_moves.hpp"
#include "../core/counter_table.hpp"
#include "absent_moves.hpp"
#include "billing_catalog.hpp"
#include "module_settings.hpp"
#include "usage_part_rows.hpp"
#include "usage_parts_edited.hpp"
#include "usage_store.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace zechat::billing::pg {

int zb_max_counters = 50000; // zechat_billing.max_counters (module_settings.hpp)

SharedCounters* shared_counters = nullptr;

namespace {

constexpr const char* tranche_name = "zechat_billing";
constexpr const char* shmem_name = "zechat_billing counters";

// A cache line's worth of bytes (64, as on x86-64) left empty between the
// region's fields and the table: the table's first bytes never share a line
// with fields that backends write without the table's lock (the condition
// variables, the configuration-change counts), so writes to one do not keep
// taking the line away from users of the other.
constexpr Size gap_before_table = 64;

constexpr Size table_offset = MAXALIGN(sizeof(SharedCounters)) + gap_before_table;

// Moves of keys without a counter that can be in flight at once (160 bytes
// each); past that, a moving transaction stands for its whole database.
constexpr uint32_t absent_move_slots = 1024;

// Before looking again for the records of absent keys' moves of a
// transaction already waited for to its end: they go a moment after its
// locks (absent_moves.hpp), with nothing to wait on meanwhile, so a short
// sleep, long enough not to spin on the table's lock (microseconds).
constexpr long ended_mover_recheck_us = 1000L;

// How long a mover sleeps on `settled` before it looks again at those that
// passed (milliseconds): one that has written its part by then is waited
// for through its transaction, which the deadlock detector sees (the
// broadcast comes only when the last pass settles, not when a part is
// written); passed but not written is a matter of microseconds.
constexpr long passed_recheck_ms = 10;

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
    shared_counters =
        static_cast<SharedCounters*>(ShmemInitStruct(shmem_name, shared_size(), &found));
    if (!found) {
        shared_counters->lock = &(GetNamedLWLockTranche(tranche_name))[0].lock;
        ConditionVariableInit(&shared_counters->loaded);
        ConditionVariableInit(&shared_counters->settled);
        pg_atomic_init_u64(&shared_counters->config_changes, 0);
        pg_atomic_init_u32(&shared_counters->config_changes_committing, 0);
        CounterTable::format(reinterpret_cast<char*>(shared_counters) + table_offset,
                             static_cast<uint32_t>(zb_max_counters));
        AbsentKeyMoves::format(reinterpret_cast<char*>(shared_counters) + absent_moves_offset(),
                               absent_move_slots);
    }
    LWLockRelease(AddinShmemInitLock);
}

AbsentKeyMoves* absent_moves()
{
    return AbsentKeyMoves::attach(reinterpret_cast<char*>(shared_counters) + absent_moves_offset());
}

} // namespace

// Shared with counters_view.cpp (counter_shmem_internal.hpp).
CounterTable* counter_table()
{
    return CounterTable::attach(reinterpret_cast<char*>(shared_counters) + table_offset);
}

void let_waiters_have_the_lock()
{
    pg_usleep(100);
}

namespace {

// A load that failed: the slot is freed, and the waiters, woken, retry.
void abandon_load(int, Datum entry)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->abandon_load(reinterpret_cast<CounterEntry*>(DatumGetPointer(entry)));
    LWLockRelease(shared_counters->lock);
    ConditionVariableBroadcast(&shared_counters->loaded);
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
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->finish_load(entry, committed);
    LWLockRelease(shared_counters->lock);
    ConditionVariableBroadcast(&shared_counters->loaded);
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
        LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
        CounterEntry* entry = may_place ? counter_table()->find_or_place(counter_key, placed)
                                        : counter_table()->find(counter_key);
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
                (void)counter_table()->begin_move(entry, mover);
                counter_table()->mark_moved_out(entry, mover);
            }
        }
        bool ready = entry != nullptr && entry->state == CounterState::ready;
        if (ready)
            counter_table()->pin(entry);
        LWLockRelease(shared_counters->lock);
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
        ConditionVariableSleep(&shared_counters->loaded, PG_WAIT_EXTENSION);
    }
}

CounterKey counter_key_of(const QuotaKey& key, TimestampTz period_start)
{
    return make_counter_key(MyDatabaseId, static_cast<uint32>(billing_usage_relation()),
                            key.tenant_id, static_cast<size_t>(key.tenant_id_length), key.resource,
                            static_cast<size_t>(key.resource_length), period_start);
}

// A mover that may still run, or whose end may not be seen yet
// (within_xid_horizon: an older one has ended long ago).
bool mover_is_recent(const CounterMoves& moves)
{
    if (moves.epoch == 0 || !FullTransactionIdIsValid(moves.mover))
        return false;
    return within_xid_horizon(U64FromFullTransactionId(ReadNextFullTransactionId()),
                              U64FromFullTransactionId(moves.mover));
}

// The last mover this backend waited for to its end.  Ended for good, its
// change seen since (this transaction took the invalidations after the
// wait, a later one at its start): a counter it marked, whose mark no one
// has retired yet (counter_wait_for_mover), costs no round of its lock
// again.  A database-wide record of absent keys' moves
// (counter_present_else_note_move) marks counters of keys that will stay
// busy in the new period.
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
    if (shared_counters == nullptr)
        return 0;
    // A stretch at a time, as nothing else of the database can come while
    // the lock is released: nobody can connect to it any more (or, for a
    // TRUNCATE, consume: a consumer takes ROW EXCLUSIVE on usage_parts).
    uint32 left = 0;
    for (uint32 first = 0; first < counter_table()->capacity(); first += entries_per_hold) {
        if (first > 0)
            let_waiters_have_the_lock();
        LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
        left += counter_table()->remove_database(database, first, entries_per_hold);
        LWLockRelease(shared_counters->lock);
    }
    return left;
}

bool counter_present(const QuotaKey& key, TimestampTz period_start)
{
    CounterKey counter_key = counter_key_of(key, period_start);
    LWLockAcquire(shared_counters->lock, LW_SHARED);
    bool present = counter_table()->find(counter_key) != nullptr;
    LWLockRelease(shared_counters->lock);
    return present;
}

bool counter_pinned_by_others(const CounterEntry* entry)
{
    LWLockAcquire(shared_counters->lock, LW_SHARED);
    bool pinned = entry->pins > 1 && entry->moved_out == 0;
    LWLockRelease(shared_counters->lock);
    return pinned;
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
        LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
        bool present = counter_table()->find(counter_key) != nullptr;
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
        LWLockRelease(shared_counters->lock);
        if (present)
            return true;
        if (recorded == AbsentMoveRecorded::recorded) {
            note_absent_move(whole_database ? top : mover, whole_database);
            note_key_moved(counter_key);
            return false;
        }
        if (other == 0)
            elog(ERROR, "zechat_billing: no room to record a move of tenant %s, resource %s",
                 key.tenant_id, key.resource);
        if (other == waited_for) {
            // Ended already: its entries go a moment after its locks.
            pg_usleep(ended_mover_recheck_us);
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

namespace {

// Under the table's lock: the marks of this backend's records of single
// keys (those of `mover`, or all of them with 0) go.  A record of the whole
// database is left to counter_settle_database_marks.
void unmark_records_of(uint32 owner, uint64 mover)
{
    absent_moves()->visit_own(owner, mover, [&](const AbsentKeyMove& record) {
        if (record.whole_database == 0)
            if (CounterEntry* entry = counter_table()->find(record.key))
                counter_table()->unmark_noted(entry, record.mover);
    });
}

} // namespace

void counter_forget_absent_moves(FullTransactionId mover, bool rolled_back)
{
    uint32 owner = absent_moves_owner();
    uint64 only = FullTransactionIdIsValid(mover) ? U64FromFullTransactionId(mover) : 0;
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    if (rolled_back)
        unmark_records_of(owner, only);
    if (only != 0)
        absent_moves()->forget_mover(owner, only);
    else
        absent_moves()->forget_owner(owner);
    LWLockRelease(shared_counters->lock);
}

void counter_unmark_absent_moves()
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    unmark_records_of(absent_moves_owner(), 0);
    LWLockRelease(shared_counters->lock);
}

void counter_settle_database_marks(bool (*unmark)(const CounterKey& key, uint64 mover))
{
    // A stretch at a time, as counter_forget_database does, but with no
    // pause between them: until the end of this pass, a transaction the
    // change held up may act on a mark that goes (a helper's attack on the
    // first version, which paused: 40 ms over 200,000 counters, and a close
    // took a transaction in flight on an unmarked-too-late counter for a
    // carried one, 8 of 5).
    for (uint32 first = 0; first < counter_table()->capacity(); first += entries_per_hold) {
        LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
        counter_table()->unmark_noted_in(
            MyDatabaseId, first, entries_per_hold,
            [&](const CounterEntry& entry) { return unmark(entry.key, entry.noted_by); });
        LWLockRelease(shared_counters->lock);
    }
}

void counter_note_move_returned(const QuotaKey& key, TimestampTz to)
{
    note_key_returned(counter_key_of(key, to));
}

void counter_unmark_own(const CounterKey& key, bool (*own)(uint64 mover))
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    CounterEntry* entry = counter_table()->find(key);
    if (entry != nullptr && entry->noted_by != 0 && own(entry->noted_by))
        counter_table()->unmark_noted(entry, entry->noted_by);
    LWLockRelease(shared_counters->lock);
}

namespace {

// forget_counters_for_change(): the transaction that may not use counters,
// and what it did to the table.
LocalTransactionId counters_refused_in = InvalidLocalTransactionId;
UsagePartsChange counters_refused_for = UsagePartsChange::truncated;

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

void forget_counters_for_change(UsagePartsChange change)
{
    if (counter_forget_database(MyDatabaseId) > 0)
        report_usage_parts_change_refused(
            change, "This transaction consumed, released or corrected usage, or changed a "
                    "tenant's billing schedule, in shared-memory mode.");
    counters_refused_in = MyProc->lxid;
    counters_refused_for = change;
}

CounterEntry* pin_counter(const QuotaKey& key, TimestampTz period_start)
{
    if (counters_refused_in == MyProc->lxid) {
        bool truncated = counters_refused_for == UsagePartsChange::truncated;
        ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                        errmsg("cannot consume, release or correct usage in the transaction that "
                               "%s billing.usage_parts",
                               truncated ? "truncated" : "edited"),
                        errdetail("The usage counters load the table again once this "
                                  "transaction has ended."),
                        errhint("Commit the %s first, then consume, recount() or "
                                "enforce_quota() in a new transaction.",
                                truncated ? "TRUNCATE" : "edit")));
    }
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
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    Admission admission = counter_table()->reserve(entry, amount, limit, own_released);
    *moves = moves_of(entry);
    LWLockRelease(shared_counters->lock);
    return admission;
}

bool counter_pass(CounterEntry* entry, uint32 seen_epoch, CounterMoves* moves)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    bool passed = counter_table()->pass(entry, seen_epoch);
    *moves = moves_of(entry);
    LWLockRelease(shared_counters->lock);
    return passed;
}

namespace {

// A (sub)transaction's part ends, the general form of the functions that
// counter_shmem.hpp declares (counter_settle_transaction and the others):
// with unpin, the transaction is done with the entry; the rest as there.
// Never raises: called from commit and abort callbacks.
void counter_settle(CounterEntry* entry, int64 reserved, int64 released, bool commit, bool unpin,
                    int64 committing = 0, bool passed = false, int64 carry_excluded = 0,
                    int64 drawn = 0)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->settle(entry, reserved, released, commit, committing, passed, carry_excluded,
                            drawn);
    bool mover_may_wait = passed && entry->passing == 0 && entry->move_epoch != 0;
    if (unpin)
        counter_table()->unpin(entry);
    LWLockRelease(shared_counters->lock);
    if (mover_may_wait)
        ConditionVariableBroadcast(&shared_counters->settled);
}

} // namespace

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

bool counter_wait_for_mover(CounterEntry* entry, const CounterMoves& moves)
{
    if (!mover_is_recent(moves) || counter_moved_by_me(moves) ||
        FullTransactionIdEquals(moves.mover, mover_known_ended))
        return false;
    // Waited for through its lock even when no longer shown as running: it
    // sends the invalidations that make its change seen after it leaves
    // the list of running transactions, and releases its lock only then.
    XactLockTableWait(XidFromFullTransactionId(moves.mover), nullptr, nullptr, XLTW_None);
    mover_known_ended = moves.mover;
    // Its mark retired: what it did to the counter, at its end, came before
    // its lock went, so a consumer reserving from now on counts that, and
    // has no mover to wait for and admit again after (a counter keeps a
    // mark until evicted: without this, each transaction of each backend
    // that last waited for another mover waited for this one's lock, and
    // admitted twice).  The move epoch stays: those admitted before the
    // move still find their period again at COMMIT.
    uint64 mover = U64FromFullTransactionId(moves.mover);
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    if (entry->mover == mover)
        entry->mover = 0;
    LWLockRelease(shared_counters->lock);
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
    LWLockAcquire(shared_counters->lock, LW_SHARED);
    CounterMoves earlier = moves_of(entry);
    LWLockRelease(shared_counters->lock);
    if (counter_moved_by_me(earlier))
        mover = earlier.mover;
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->begin_move(entry, U64FromFullTransactionId(mover));
    LWLockRelease(shared_counters->lock);
    uint32 own = own_pass ? 1 : 0;
    for (;;) {
        LWLockAcquire(shared_counters->lock, LW_SHARED);
        uint32 passing = entry->passing;
        LWLockRelease(shared_counters->lock);
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
        (void)ConditionVariableTimedSleep(&shared_counters->settled, passed_recheck_ms,
                                          PG_WAIT_EXTENSION);
    }
    ConditionVariableCancelSleep();
}

int64 counter_release(CounterEntry* entry, int64 amount, int64 own_reserved, int64 own_unconfirmed,
                      int64 own_released, int64* own_drawn, bool of_stored_rows)
{
    CounterTable::OwnChanges own{own_reserved, own_released, *own_drawn, own_unconfirmed};
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    int64 given = counter_table()->release(entry, amount, &own, of_stored_rows);
    LWLockRelease(shared_counters->lock);
    *own_drawn = own.drawn;
    return given;
}

bool counter_force(CounterEntry* entry, int64 delta, int64* own_drawn)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    bool forced = counter_table()->force(entry, delta, own_drawn);
    LWLockRelease(shared_counters->lock);
    return forced;
}

int64 counter_committed(CounterEntry* entry, CounterMoves* moves)
{
    LWLockAcquire(shared_counters->lock, LW_SHARED);
    int64 committed = entry->committed;
    if (moves != nullptr)
        *moves = moves_of(entry);
    LWLockRelease(shared_counters->lock);
    return committed;
}

int64 counter_begin_commit(CounterEntry* entry, int64 net)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    int64 before = counter_table()->begin_commit(entry, net);
    LWLockRelease(shared_counters->lock);
    return before;
}

void counter_settle_transaction(CounterEntry* entry, int64 reserved, int64 released, bool commit,
                                int64 committing, bool passed, int64 carry_excluded, int64 drawn)
{
    counter_settle(entry, reserved, released, commit, true, committing, passed, carry_excluded,
                   drawn);
}

void counter_drop_part(CounterEntry* entry, int64 reserved, int64 released, int64 carry_excluded,
                       int64 drawn)
{
    counter_settle(entry, reserved, released, false, false, 0, false, carry_excluded, drawn);
}

void counter_unpin(CounterEntry* entry)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->unpin(entry);
    LWLockRelease(shared_counters->lock);
}

void counter_take_back_reservation(CounterEntry* entry, int64 amount)
{
    counter_settle(entry, amount, 0, false, false);
}

void counter_carry_in_flight(const QuotaKey& key, CounterEntry* from, TimestampTz to,
                             int64 own_reserved, CarryUndo* undo)
{
    CounterKey to_key = counter_key_of(key, to);
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    bool carried = counter_table()->carry_in_flight(from, to_key, own_reserved, undo);
    LWLockRelease(shared_counters->lock);
    if (!carried)
        report_counters_exhausted(key);
}

bool counter_moved_out(const QuotaKey& key, TimestampTz period_start)
{
    CounterKey counter_key = counter_key_of(key, period_start);
    LWLockAcquire(shared_counters->lock, LW_SHARED);
    const CounterEntry* entry = counter_table()->find(counter_key);
    bool moved_out = entry != nullptr && entry->moved_out != 0;
    LWLockRelease(shared_counters->lock);
    return moved_out;
}

void counter_return_carried(CounterEntry* to, CarryUndo* undo)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->return_carried(to, undo);
    LWLockRelease(shared_counters->lock);
}

void counter_undo_carry(CounterEntry* from, const CarryUndo& undo)
{
    LWLockAcquire(shared_counters->lock, LW_EXCLUSIVE);
    counter_table()->undo_carry(from, undo);
    LWLockRelease(shared_counters->lock);
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
    return shared_counters != nullptr;
}

} // namespace zechat::billing::pg
