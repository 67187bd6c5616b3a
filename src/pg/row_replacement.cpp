#include "row_replacement.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "storage/bufmgr.h"
#include "utils/snapmgr.h"
}

namespace zechat::billing::pg {

bool replaced_by_us(HeapTupleHeader header, TransactionId* changed_by, CommandId* changed_in)
{
    if ((header->t_infomask & HEAP_XMAX_INVALID) != 0 ||
        HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask))
        return false;
    TransactionId xid = HeapTupleHeaderGetUpdateXid(header);
    if (!TransactionIdIsCurrentTransactionId(xid))
        return false;
    *changed_by = xid;
    *changed_in = HeapTupleHeaderGetCmax(header);
    return true;
}

bool replaced_by_change(Relation rel, ItemPointer row, TransactionId changed_by,
                        CommandId changed_in, bool updated)
{
    HeapTupleData tuple;
    tuple.t_self = *row;
    Buffer buffer;
    if (!heap_fetch(rel, SnapshotAny, &tuple, &buffer, true))
        return false;
    LockBuffer(buffer, BUFFER_LOCK_SHARE);
    TransactionId by;
    CommandId in;
    // A row an UPDATE moved to another partition was deleted here, its
    // link marked so: no update of this version.
    ItemPointer link = &tuple.t_data->t_ctid;
    bool same_kind = updated ? !ItemPointerEquals(link, &tuple.t_self) &&
                                   !ItemPointerIndicatesMovedPartitions(link)
                             : ItemPointerEquals(link, &tuple.t_self);
    bool replaced = replaced_by_us(tuple.t_data, &by, &in) && TransactionIdEquals(by, changed_by) &&
                    in == changed_in && same_kind;
    UnlockReleaseBuffer(buffer);
    return replaced;
}

} // namespace zechat::billing::pg
