// The trigger installed by billing.enforce_quota on application tables.
//
// Arguments: resource, tenant column, amount column ('' = each row is 1).
//   BEFORE INSERT (row)     consume the row's amount for its tenant
//   BEFORE UPDATE (row)     gauges: move or adjust usage; growth is checked
//                           (settled at statement end when a later trigger
//                           may skip the update: skippable_updates.hpp)
//   AFTER DELETE (row)      gauges: release the row's amount
//   BEFORE TRUNCATE (stmt)  gauges: release everything the table holds
//   AFTER INSERT (stmt)     instead of BEFORE INSERT on a table enforced per
//                           statement: consume the inserted rows' amounts
//                           per tenant (statement_inserts.hpp)
// Column positions and types are resolved once per trigger and cached until
// the table's relcache entry is invalidated (ALTER TABLE, DROP, ...).
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

void invalidate_trigger_layouts(Oid relid);

} // namespace zechat::billing::pg
