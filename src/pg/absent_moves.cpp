#include "absent_moves.hpp"

#include "../core/counter_table.hpp"
#include "backend_hash.hpp"
#include "counter_shmem.hpp"
#include "growing_array.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

namespace zechat::billing::pg {

namespace {

struct AbsentMoveNote {
    FullTransactionId mover;
    SubTransactionId subxact; // that recorded it
    bool rolled_back;         // that subtransaction rolled back
};

// In TopMemoryContext, kept between transactions; `noted` is reset.
AbsentMoveNote* notes = nullptr;
int notes_capacity = 0;
int noted = 0;

// The transaction's record of its whole database, if it made one: it marks
// every counter placed in the database while it stands, of keys the
// transaction moves or not.  The keys it moved without a counter, with the
// subtransaction that moved them (those of one rolled back go), tell at its
// end which of those marks stand (a helper's attack: a consumer's counter
// of another tenant, placed during a plan edit over 1,100 idle
// subscribers, kept its mark after the edit committed, and a later close
// took its transaction for a carried one, 8 of 5).
FullTransactionId database_mover = InvalidFullTransactionId;
// The moves of recorded keys and the returns to them (note_key_returned),
// in order, each linked to the key's event before it.  Everything since a
// subtransaction began is its own or its children's: its rollback takes
// the log's tail off.  In moved_keys_context.
struct KeyEvent {
    SubTransactionId subxact;
    bool returned;
    int previous; // the key's event before this one; -1: none
};
KeyEvent* key_events = nullptr;
int key_event_count = 0;
int key_event_capacity = 0;
struct MovedKey {
    CounterKey key; // hash key, first
    int last_event; // in key_events
};
MemoryContext moved_keys_context = nullptr; // under TopMemoryContext, deleted at the end
HTAB* moved_keys = nullptr;
bool ending_committed = false;

const AbsentMoveNote* note_of(uint64 mover)
{
    for (int i = 0; i < noted; ++i)
        if (U64FromFullTransactionId(notes[i].mover) == mover)
            return &notes[i];
    return nullptr;
}

// The key's entry, if this transaction recorded a move of it.
MovedKey* moved_key(const CounterKey& key)
{
    if (moved_keys == nullptr)
        return nullptr;
    return static_cast<MovedKey*>(hash_search(moved_keys, &key, HASH_FIND, nullptr));
}

// The key's last event is a return.
bool move_returned(const MovedKey& moved)
{
    return key_events[moved.last_event].returned;
}

// Room for one more event; may raise, so it comes before the key's entry.
void make_room_for_key_event()
{
    make_room_for_item(&key_events, key_event_count, &key_event_capacity, 64, moved_keys_context);
}

// Appends the key's next event, room made.
void note_key_event(MovedKey* moved, bool returned, bool first)
{
    key_events[key_event_count] =
        KeyEvent{GetCurrentSubTransactionId(), returned, first ? -1 : moved->last_event};
    moved->last_event = key_event_count++;
}

// A move of the key stands: recorded, not returned since.
bool key_moved(const CounterKey& key)
{
    const MovedKey* moved = moved_key(key);
    return moved != nullptr && !move_returned(*moved);
}

// counter_settle_database_marks: whether a mark goes at the end.
bool unmark_at_end(const CounterKey& key, uint64 mover)
{
    const AbsentMoveNote* note = note_of(mover);
    if (note == nullptr)
        return false; // another transaction's
    if (!ending_committed || note->rolled_back)
        return true;
    if (mover != U64FromFullTransactionId(database_mover))
        return false; // a single key's record, whose move committed
    return !key_moved(key);
}

// A rolled-back subtransaction's moves and returns did not happen: the
// log's tail from its first event goes, and each key falls back to its
// event before (a key with none left goes).  Until 2026-12-07 only a key's
// first and last move were kept, and a move after a return, followed by
// one rolled back, fell back to the first, before the return: the key was
// taken for returned, its mark removed (a helper's attack).
void forget_keys_moved_in(SubTransactionId subxact)
{
    if (moved_keys == nullptr)
        return;
    int kept = key_event_count;
    while (kept > 0 && key_events[kept - 1].subxact >= subxact)
        --kept;
    // Nothing of it recorded: no key to walk (each rolled-back
    // subtransaction walked them all: 2,000 failing PL/pgSQL EXCEPTION
    // blocks after an interval edit of 1,500 idle subscribers took 14 to
    // 27 ms, now 6 to 7 ms; 168 ms in a helper's run).
    if (kept == key_event_count)
        return;
    key_event_count = kept;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, moved_keys);
    while (auto* moved = static_cast<MovedKey*>(hash_seq_search(&scan))) {
        while (moved->last_event >= kept)
            moved->last_event = key_events[moved->last_event].previous;
        if (moved->last_event < 0)
            (void)hash_search(moved_keys, &moved->key, HASH_REMOVE, nullptr);
    }
}

bool own_mover(uint64 mover)
{
    return note_of(mover) != nullptr;
}

// At the end of a committed transaction: the counters of keys whose move it
// returned lose the marks its records put on them as they were placed.
// (A record of the whole database: unmark_at_end.)
void unmark_returned_keys()
{
    if (moved_keys == nullptr)
        return;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, moved_keys);
    while (auto* moved = static_cast<MovedKey*>(hash_seq_search(&scan)))
        if (move_returned(*moved))
            counter_unmark_own(moved->key, own_mover);
}

// A subtransaction rolls back: the moves it and the subtransactions it
// holds recorded (those started after it, since it is still open) go, and
// so do the marks they left (those of a record of the whole database at
// the transaction's end).  Called after the pending usage's callback,
// which undoes the subtransaction's carries first (registered later,
// called earlier: module.cpp).
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId, void*)
{
    if (event != SUBXACT_EVENT_ABORT_SUB || noted == 0)
        return;
    for (int i = 0; i < noted; ++i)
        if (notes[i].subxact >= subxact && !notes[i].rolled_back) {
            counter_forget_absent_moves(notes[i].mover, true);
            notes[i].rolled_back = true;
        }
    forget_keys_moved_in(subxact);
}

// The marks of the record of the whole database that go at the end
// (unmark_at_end).
void settle_database_marks(bool committed)
{
    if (!FullTransactionIdIsValid(database_mover))
        return;
    ending_committed = committed;
    counter_settle_database_marks(unmark_at_end);
}

// The marks settled before the transaction's locks go, so that a
// transaction the change held up (a consumer waiting for it, another change
// of the tenant) finds them gone when it goes on (a helper's attack: taken
// back after the locks, a close that came at once took a transaction in
// flight on a counter still marked for a carried one, 8 of 5); and again
// once the records are gone (on_resource_release), for counters placed in
// between.
void on_transaction_event(XactEvent event, void*)
{
    if (noted == 0)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) {
        if (event == XACT_EVENT_ABORT)
            counter_unmark_absent_moves();
        else
            unmark_returned_keys();
        settle_database_marks(event == XACT_EVENT_COMMIT);
        return;
    }
    if (event != XACT_EVENT_PRE_PREPARE)
        return;
    bool standing = false;
    for (int i = 0; i < noted; ++i)
        standing = standing || !notes[i].rolled_back;
    if (!standing && !FullTransactionIdIsValid(database_mover))
        return;
    refuse_to_prepare_move("A tenant's billing schedule changed in this transaction; a prepared "
                           "transaction would hold the move with no session to end it.");
}

// After the transaction's locks are released: by then its invalidations
// are sent, so a consumer placing a counter without the mark reads the
// terms the transaction left (a commit) or had (an abort).
void on_resource_release(ResourceReleasePhase phase, bool is_commit, bool is_top_level, void*)
{
    // Not in progress any more: a resource owner released in the middle of
    // a transaction (none is released as top level today) leaves them.
    if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !is_top_level || noted == 0 ||
        IsTransactionState())
        return;
    counter_forget_absent_moves(InvalidFullTransactionId, !is_commit);
    if (is_commit)
        unmark_returned_keys();
    settle_database_marks(is_commit);
    noted = 0;
    database_mover = InvalidFullTransactionId;
    if (moved_keys_context != nullptr)
        MemoryContextDelete(moved_keys_context);
    moved_keys_context = nullptr;
    moved_keys = nullptr;
    key_events = nullptr;
    key_event_count = 0;
    key_event_capacity = 0;
}

} // namespace

void prepare_absent_move_note()
{
    make_room_for_item(&notes, noted, &notes_capacity, 8, TopMemoryContext);
}

void note_absent_move(FullTransactionId mover, bool whole_transaction)
{
    SubTransactionId subxact =
        whole_transaction ? TopSubTransactionId : GetCurrentSubTransactionId();
    if (whole_transaction)
        database_mover = mover;
    for (int i = 0; i < noted; ++i)
        if (FullTransactionIdEquals(notes[i].mover, mover))
            return;
    notes[noted++] = AbsentMoveNote{mover, subxact, false};
}

void note_key_moved(const CounterKey& key)
{
    // Also before a record of the database: the top-level transaction may
    // have recorded the key alone as its mover, and the record of the
    // database, replacing that record, then marks as the same mover.
    if (moved_keys == nullptr) {
        moved_keys_context = AllocSetContextCreate(TopMemoryContext, "zechat_billing moved keys",
                                                   ALLOCSET_DEFAULT_SIZES);
        moved_keys = create_backend_hash("zechat_billing moved keys", 256, sizeof(CounterKey),
                                         sizeof(MovedKey), moved_keys_context);
    }
    make_room_for_key_event();
    bool found;
    auto* moved = static_cast<MovedKey*>(hash_search(moved_keys, &key, HASH_ENTER, &found));
    note_key_event(moved, false, !found);
}

void note_key_returned(const CounterKey& key)
{
    MovedKey* moved = moved_key(key);
    if (moved == nullptr)
        return; // not recorded: nothing to take back
    make_room_for_key_event();
    note_key_event(moved, true, false);
}

void register_absent_move_callbacks()
{
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
    RegisterResourceReleaseCallback(on_resource_release, nullptr);
}

void refuse_to_prepare_move(const char* detail)
{
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("cannot PREPARE a transaction that moved a billing period in "
                           "shared-memory mode"),
                    errdetail_internal("%s", detail),
                    errhint("Change subscriptions and plans outside the two-phase transaction, "
                            "or run the server without zechat_billing in "
                            "shared_preload_libraries.")));
}

} // namespace zechat::billing::pg
