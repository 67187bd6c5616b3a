#include "limit_log_marks.hpp"

#include "pg_boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
}

namespace zechat::billing::pg {

namespace {

// Set in the subtransaction `subxact` of the transaction `lxid`; a mark of
// another transaction is no mark.
struct TransactionMark {
    LocalTransactionId lxid = InvalidLocalTransactionId;
    SubTransactionId subxact = InvalidSubTransactionId;
};

TransactionMark turn_taken;
TransactionMark time_chosen;
TimestampTz chosen_time = 0;

bool is_set(const TransactionMark& mark)
{
    return mark.lxid == MyProc->lxid && mark.subxact != InvalidSubTransactionId;
}

void set(TransactionMark* mark)
{
    mark->lxid = MyProc->lxid;
    mark->subxact = GetCurrentSubTransactionId();
}

// A subtransaction ending: its marks pass to its parent, or go.  Those of
// its children have passed to it or gone already; any mark made after it
// began was made in it or in one of them.
void at_subtransaction_end(TransactionMark* mark, bool commit, SubTransactionId subxact,
                           SubTransactionId parent)
{
    if (!is_set(*mark) || mark->subxact < subxact)
        return;
    mark->subxact = commit ? parent : InvalidSubTransactionId;
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId parent,
                             void*)
{
    if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
        return;
    bool commit = event == SUBXACT_EVENT_COMMIT_SUB;
    at_subtransaction_end(&turn_taken, commit, subxact, parent);
    at_subtransaction_end(&time_chosen, commit, subxact, parent);
}

// billing._limit_log_time(): the transaction's first call chooses the time
// (the moment of its first change of limits, not its start: see
// 075_usage_history.sql), later ones return it.
Datum limit_log_time_body(FunctionCallInfo)
{
    if (!is_set(time_chosen)) {
        chosen_time = GetCurrentTimestamp();
        set(&time_chosen);
    }
    PG_RETURN_TIMESTAMPTZ(chosen_time);
}

// billing._limit_log_turn_to_take(): true, and the turn marked taken, the
// first time in the transaction; the caller then takes it (an error doing so
// ends the subtransaction, and the mark with it).
Datum limit_log_turn_to_take_body(FunctionCallInfo)
{
    if (is_set(turn_taken))
        PG_RETURN_BOOL(false);
    set(&turn_taken);
    PG_RETURN_BOOL(true);
}

} // namespace

void register_limit_log_mark_callbacks()
{
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

} // namespace zechat::billing::pg

extern "C" {
ZB_GUARDED_ENTRY(zb_limit_log_time, zechat::billing::pg::limit_log_time_body)
ZB_GUARDED_ENTRY(zb_limit_log_turn_to_take, zechat::billing::pg::limit_log_turn_to_take_body)
}
