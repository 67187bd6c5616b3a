// Shared-memory mode's durable write: this backend's own part of a key in
// billing.usage_parts (see 010_tables.sql), updated once per committing
// transaction.
//
// Nobody else writes that row while this backend lives (parts are per
// BackendId, and PREPARE with a pending change is refused), so once its
// location is known it is updated in place (usage_part_rows.hpp: a heap
// update, index entries only when it is not HOT, its page pruned when the
// new version would not fit), without going through SPI and the executor:
// on the hot path of a one-row transaction that is most of what
// shared-memory mode adds.  The location is found once per backend through
// the primary key, cached, and checked on every use (same key, visible, not
// updated by anyone else); a catalog invalidation (VACUUM FULL, TRUNCATE,
// DROP) forgets it.  Only a part that does not exist yet is written by the
// SQL statement, which creates it.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// The writer's part += delta, creating the row if needed (writer > 0).
void add_to_own_usage_part(const QuotaKey& key, TimestampTz period_start, int writer,
                           int64 delta);

} // namespace zechat::billing::pg
