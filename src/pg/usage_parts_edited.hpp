// Hand edits of billing.usage_parts (INSERT, UPDATE, DELETE, COPY, MERGE by
// an administrator) in shared-memory mode: the statement trigger
// billing._usage_parts_edited() makes the database's counters load the
// table again, as a TRUNCATE does (usage_parts_edited.cpp).  The
// extension's own statements on the table are marked, so that the trigger
// lets them through.
//
// Lock mode refuses a TRUNCATE or hand edit in a transaction that tracks
// usage: what it changed after a key's first admission is written at its
// commit, onto the edited table.
#pragma once

#include "counter_shmem.hpp"
#include "pg_headers.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace zechat::billing::pg {

// SPI_execute_snapshot of one of the extension's writes of usage_parts,
// with the latest snapshot, as the extension's own (read-write, at most
// `count` rows, 0 for all).  Connected as the owner (owner_spi.hpp).
int execute_own_usage_parts_write(SPIPlanPtr plan, Datum* args, long count);

// Lock mode: raises 55006 when this transaction tracks usage (above), as
// shared-memory mode does when it holds counters (forget_counters_for_change).
void refuse_change_over_own_usage(UsagePartsChange change);

// The 55006 of both: the same message and hint, `detail` saying why in the
// mode at hand.
[[noreturn]] void report_usage_parts_change_refused(UsagePartsChange change, const char* detail);

} // namespace zechat::billing::pg
