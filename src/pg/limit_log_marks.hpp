// What a transaction that logs limits (src/sql/075_usage_history.sql) keeps
// until it ends: the time its changes of limits are dated at, and whether it
// has taken the turn of billing.limit_log_turn.
//
// Kept in the backend, not in a custom setting as until 2026-12-06: any role
// may set one, and a role allowed to edit plan_limits could set the time
// (SET zechat_billing_limit_log.at = '2000-01-01') and date its change in a
// closed period, which usage_history then showed under the new limit, or
// mark the turn taken and log without waiting for the others (a helper's
// hunt).  A mark goes with the subtransaction that made it, as the setting
// did: the rows logged at that time, and the lock on the turn's row, go
// with it too.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

void register_limit_log_mark_callbacks();

} // namespace zechat::billing::pg
