// Internal to the pending usage files (src/pg/pending_*.cpp), included by
// them only: the entry of a key this transaction changed, the walkable array
// of entries, and what the files share.  Other callers see PendingUsage as
// opaque (pending_usage.hpp).
#pragma once

#include "../core/counter_table.hpp"
#include "../core/subxact_records.hpp"
#include "../core/tenant_key.hpp"
#include "counter_shmem.hpp"
#include "pending_usage.hpp"

namespace zechat::billing::pg {

struct PendingKey {
    char tenant_id[tenant_id_field_bytes];
    char resource[resource_field_bytes];
    TimestampTz period_start;
    // The installation of the extension the key's changes were admitted
    // under (its usage table): one dropped, and perhaps created again, in the
    // same transaction is another key, whose changes are not written.
    Oid store;
};

// What one subtransaction did on one key.  A stack per entry, innermost
// subtransaction on top; subtransaction ids only grow, so the top is always
// the most recent.
struct SubxactPart {
    SubTransactionId subxact;
    int64 consumed;
    int64 released;
    int64 drawn;           // shared-memory mode: what its releases drew (PendingUsage.drawn)
    int64 carried;         // what its moves carried here, or away (PendingUsage.alert_carried)
    int64 corrected_after; // PendingUsage.alert_corrected_after
    // Shared-memory mode: whether the subtransaction changed what the
    // counter carries (a move of its usage out, or back to it), and the
    // counter's carry state and PendingUsage.carry_excluded before the first
    // such change, which its rollback restores (restore_carry_state).
    bool carry_saved;
    CarryUndo carry_before;
    int64 carry_excluded_before;
    SubxactPart* outer;
};

struct PendingUsage {
    PendingKey key;        // hash key, must be first
    CounterEntry* counter; // shared-memory mode, once pinned
    int64 base_used;       // lock mode
    // The subtransaction holding the key for this transaction: lock mode's
    // row lock, shared-memory mode's pin of its counter (or the attempt at
    // one).  Rolled back, the entry is forgotten: in lock mode at once, in
    // shared-memory mode once nothing of the transaction is left on the key
    // (release_hold_after_rollback).
    SubTransactionId hold_subxact;
    int64 consumed; // sums of all parts
    int64 released;
    // Shared-memory mode: what its releases drew on committed usage
    // (CounterTable::release), given back to the counter when it ends, or
    // with the part of a subtransaction rolled back: what that part
    // reserved and released goes with it, and what it holds after is what
    // it held when the subtransaction began, which the draw then covered.
    int64 drawn;
    SubxactPart* parts;
    // Usage alerts: the terms of the last consumption (alert_terms_known
    // once there was one), lock mode's usage before this transaction, and
    // what shared-memory mode registered with counter_begin_commit.
    bool alert_terms_known;
    Limit alert_limit;
    // The end of the period consumed in, from the terms of the last
    // consumption (0 without one): whether a schedule change carried that
    // period or closed it (period_differs_now).
    TimestampTz usage_period_end;
    TimestampTz alert_period_start;
    uint64 alert_terms_generation; // tenant_terms_generation() when noted
    // Shared-memory mode: the (sub)transaction that moved the key's usage
    // to another period, marking its counter (counter_move_out), or
    // InvalidSubTransactionId; a move rolled back to a savepoint is undone.
    SubTransactionId moved_out_subxact;
    // Shared-memory mode: whether another transaction held consumption of
    // the key in flight when this one last began moving it (see
    // others_in_flight_at_move).
    bool others_in_flight_at_move;
    // Shared-memory mode: this transaction's reservation that its move of
    // the counter's usage left out of what the counter carries (the moves
    // and their undo: carry_counter_in_flight, SubxactPart.carry_saved).
    int64 carry_excluded;
    int64 usage_before;
    // What moves by this transaction carried here, less what they carried
    // away, that it did not consume: the next crossing starts above it
    // (carry_alerts, pending_alerts.hpp).  Below 0 in a period moved away
    // from, so that usage moved back counts as it was.  Corrections made
    // before this transaction consumed on the key count here too; those
    // made after, in alert_corrected_after, which the crossing ends below.
    int64 alert_carried;
    int64 alert_corrected_after;
    int64 committing;
    // Shared-memory mode: what of consumed - released this commit has
    // written to the backend's part already (lock mode folds what it writes
    // into base_used instead), and whether it wrote the part at all.
    int64 written;
    bool part_written;
    // Shared-memory mode: whether this commit passed the counter's move
    // barrier (counter_pass), and the counter's move epoch when this
    // transaction last found its period still the one that counts.
    bool passed;
    uint32 move_epoch_seen;
    uint32 move_epoch_admitted; // see note_admission_epoch
    // Shared-memory mode: a correction was the transaction's first change of
    // the key, also one that changed nothing (note_correction_epoch).
    bool corrected_first;
    uint32 crossed; // at commit: the thresholds crossed, and the usage reached
    int64 used_at_commit;
    // Its place in touched[] (kept by untrack), and its records of state
    // tied to a subtransaction (pending_subxact_records.cpp).
    int touched_index;
    SubxactMarks subxact_marks;
    bool leaving; // the subtransaction rolled back took it (while that ends)
    // Shared-memory mode: listed to give its pin back once the outermost
    // statement ends (pending_pins_to_give_back.cpp).
    bool pin_waits;
};

// pending_usage.cpp: the entries this transaction touched, in the order it
// touched them (see there).  Only that file adds and removes entries; the
// others walk them by index, touched[0 .. touched_count).
extern PendingUsage** touched;
extern int touched_count;

// Removes touched[i]; the last one takes its place (see pending_usage.cpp).
// An entry's records (below) go first.
void untrack(int i);

// Forgets every entry: the transaction ended.
void forget_pending_usage();

QuotaKey quota_key_of(const PendingUsage* entry);

// Whether anything is consumed or released on the entry (lock mode: since
// its last write).
bool has_change(const PendingUsage* entry);

// pending_pins_to_give_back.cpp: the entry leaves the list of those
// waiting to give their pin back (it is about to be untracked); the
// transaction ended (the list is forgotten).  Never raise.
void stop_waiting_to_give_back_pin(PendingUsage* entry);
void forget_waiting_pins();

// pending_subxact_records.cpp: which entries have state tied to each open
// subtransaction other than the top level (a part, the hold, the mark of a
// move or a carry), so that a subtransaction's end visits those entries
// only, however many keys the transaction touched.
//
// Room for one more record; may raise: called before the state is set, so
// that state is never left without its record.
void make_room_for_subxact_record();
// The entry now has state tied to `subxact` (an open subtransaction): notes
// it, once per entry and subtransaction.  Never raises (room was made).
void note_subxact_state(PendingUsage* entry, SubTransactionId subxact);
// The subtransaction ended: each entry with state of it has it handed to
// the parent (committed), or taken back and perhaps forgotten (rolled back:
// take_back_subxact, release_hold_after_rollback).  Never raise.
void hand_subxact_to_parent(SubTransactionId subxact, SubTransactionId parent);
void take_back_subxact_of_entries(SubTransactionId subxact);
// The transaction ended (every entry forgotten).
void forget_subxact_records();

// pending_subxact_parts.cpp: the subtransaction `subxact` rolled back (its
// part is taken back, and off the counter), or committed into `parent`
// (its part is handed to the parent's).
void take_back_subxact(PendingUsage* entry, SubTransactionId subxact);
void hand_to_parent(PendingUsage* entry, SubTransactionId subxact, SubTransactionId parent);
// The entry's change left its counter (drop_moved_change): its parts go,
// but for the outermost carry state saved, which an abort of the commit
// still restores (undo_carry).
void drop_parts_keeping_carry(PendingUsage* entry);

// The subtransaction holding the entry's key (hold_subxact) rolled back,
// and take_back_subxact() took its part back: true when the entry is to be
// forgotten.  Lock mode: always (its row lock went with it).
// Shared-memory mode: when the transaction holds nothing else on the key
// (all it did there was in that subtransaction, or it never got the
// counter), its pin is given back first, so that a transaction whose
// consumptions were refused or rolled back does not keep counters from
// other transactions until it ends.  Never raises.
bool release_hold_after_rollback(PendingUsage* entry);

// pending_alerts.cpp, at commit: the terms read again, the thresholds
// crossed, and their alerts recorded.
void refresh_alert_terms(PendingUsage* entry);
uint32 crossed_thresholds_of(PendingUsage* entry, int64* after);
// Whether the entry changed since its last crossing was taken (by SQL run
// meanwhile: a trigger on billing.alerts consuming), for another round.
bool changed_since_crossing(const PendingUsage* entry);
void record_alerts(PendingUsage* entry, uint32 crossed, int64 used, bool notify);

// pending_counter_moves.cpp: shared-memory mode's counters at commit and
// abort.
void undo_carry(PendingUsage* entry);
// A subtransaction rolls back: what its part saved of the carry state
// (SubxactPart.carry_saved) is restored.  Never raises.
void restore_carry_state(PendingUsage* entry, const SubxactPart* part);
void pass_move_barriers();
void settle_counters(bool commit);

// pending_commit.cpp: what PRE_COMMIT and PRE_PREPARE do.
void refuse_read_only_commit();
void refuse_prepare_with_counters();
void write_pending_usage(bool notify);

} // namespace zechat::billing::pg
