// Usage alerts (CONTRACT.md, "Periods, history and alerts"): the
// zechat_billing.alert_thresholds setting, and the row in billing.alerts
// plus the NOTIFY billing_alerts that a crossing produces.
//
// Crossings are found just before commit (pending_usage.cpp), from the
// usage the committing transaction starts from and ends at: in lock mode the
// key's row is locked, so that is exact; in shared-memory mode the counter
// gives each committing transaction its own range (counter_begin_commit).
// The alert is written in the committing transaction, so a rollback takes
// it back, and NOTIFY is delivered only at commit.  billing.alerts' primary
// key (tenant, resource, threshold, period) keeps it to one per period even
// if two transactions race for it.
#pragma once

#include "../core/usage_alerts.hpp"
#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// Defines zechat_billing.alert_thresholds; called from _PG_init.
void define_alert_settings();

// The thresholds in force (none when the list is empty).
const AlertThresholds& alert_thresholds();

// Records the alert, unless one exists for the same tenant, resource,
// threshold and period, and with `notify` notifies billing_alerts if it was
// recorded (not at PREPARE: a prepared transaction cannot NOTIFY).  Does
// nothing while the database still has the objects of a version without
// alerts (before ALTER EXTENSION ... UPDATE).
void record_usage_alert(const QuotaKey& key, int threshold, TimestampTz period_start, int64 used,
                        int64 limit, bool notify);

} // namespace zechat::billing::pg
