// Hand edits of billing.usage_parts (INSERT, UPDATE, DELETE, COPY, MERGE by
// an administrator) in shared-memory mode: the statement trigger
// billing._usage_parts_edited() makes the database's counters load the
// table again, as a TRUNCATE does (usage_parts_edited.cpp).  The
// extension's own statements on the table are marked, so that the trigger
// lets them through.
#pragma once

#include "pg_headers.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace zechat::billing::pg {

// SPI_execute_snapshot of one of the extension's writes of usage_parts,
// with the latest snapshot, as the extension's own (read-write, at most
// `count` rows, 0 for all).  Connected as the owner (owner_spi.hpp).
int execute_own_usage_parts_write(SPIPlanPtr plan, Datum* args, long count);

} // namespace zechat::billing::pg
