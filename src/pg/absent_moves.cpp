#include "absent_moves.hpp"

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
};

// In TopMemoryContext, kept between transactions; `noted` is reset.
AbsentMoveNote* notes = nullptr;
int notes_capacity = 0;
int noted = 0;

// A subtransaction rolls back: the moves it and the subtransactions it
// holds recorded (those started after it, since it is still open) go, and
// so do the marks they left.  Called after the pending usage's callback,
// which undoes the subtransaction's carries first (registered later,
// called earlier: module.cpp).
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId, void*)
{
    if (event != SUBXACT_EVENT_ABORT_SUB || noted == 0)
        return;
    int kept = 0;
    for (int i = 0; i < noted; ++i) {
        if (notes[i].subxact >= subxact)
            counter_forget_absent_moves(notes[i].mover, true);
        else
            notes[kept++] = notes[i];
    }
    noted = kept;
}

void on_transaction_event(XactEvent event, void*)
{
    if (event != XACT_EVENT_PRE_PREPARE || noted == 0)
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
    noted = 0;
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
    for (int i = 0; i < noted; ++i)
        if (FullTransactionIdEquals(notes[i].mover, mover))
            return;
    notes[noted++] = AbsentMoveNote{mover, subxact};
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
