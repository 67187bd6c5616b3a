// Usage alerts of the changes a transaction tracks (pending_usage.hpp): the
// terms a consumption was admitted under, and what a move of a key's usage
// carries along; the alerts are recorded at commit (pending_commit.cpp).
#pragma once

#include "../core/usage_alerts.hpp"
#include "tenant_terms.hpp"

namespace zechat::billing::pg {

struct PendingUsage; // pending_usage.hpp

// A consumption was admitted under these terms: at commit, the usage alert
// thresholds it crosses are recorded (usage_alerts.hpp).  Corrections
// (recount) never call it, so they never alert.
void note_consumption_terms(PendingUsage* entry, const TenantTerms& terms);

// Usage alerts across a move of a key's usage by this transaction (a
// schedule change): what this transaction itself consumed in the period
// moved away from alerts in the new one, counted on top of the usage
// carried along, which is no consumption, whether or not the transaction
// consumed before the move (regress `10_alerts`).  Read before the move
// (`moved` is what it takes, `from` may be nullptr), applied after it to
// both periods' entries (alert_carry_across_move): the period moved away
// from keeps what was carried out of it, so that usage moved back, by a
// schedule change reversed later in the transaction, counts as before.
AlertCarry alert_carry_of(const PendingUsage* from, int64 moved);
void carry_alerts(PendingUsage* from, PendingUsage* to, const AlertCarry& carry);

// A correction (recount, a backfill: billing._adjust_usage, _set_usage) of
// `delta` on the key is no consumption either: the crossing at commit
// leaves it out, before or after the transaction's own consumption.
void note_correction(PendingUsage* entry, int64 delta);

} // namespace zechat::billing::pg
