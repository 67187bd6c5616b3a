// A tenant's terms for one resource, as consumption needs them: the kind of
// the resource, the subscription state, the effective hard limit and the
// current billing period.
//
// Kept in a per-backend cache; a miss takes what another backend read
// under the same count of configuration changes in shared-memory mode
// (shared_hints.hpp), or reads the configuration tables by primary key
// (stored_terms.hpp).  The cache is dropped when
// any backend commits a change to a configuration table (see
// 020_config_invalidation.sql), and the period is recomputed when now()
// leaves it.
#pragma once

#include "../core/quota_rules.hpp"
#include "billing_period.hpp"

namespace zechat::billing::pg {

enum class ResourceKind { period, gauge };

enum class SubscriptionState { none, active, suspended, canceled };

// Counter keys, already validated (tenant 1..63 bytes, NUL-terminated).
struct QuotaKey {
    const char* tenant_id;
    int tenant_id_length;
    const char* resource;
    int resource_length;
};

struct TenantTerms {
    ResourceKind kind;
    SubscriptionState subscription;
    Limit limit;
    // Which usage row counts: the current billing period for a period
    // resource, -infinity for a gauge.  Invalid (0/false) for a period
    // resource of a tenant without a subscription.
    bool has_usage_period;
    TimestampTz usage_period_start;
    TimestampTz period_end;
    // The subscription's current billing period, whatever the resource's
    // kind (usage alerts of gauges are per period too); DT_NOBEGIN without
    // a subscription.
    TimestampTz billing_period_start;
    // The moment the periods are counted at (count_periods_from_now):
    // DT_NOBEGIN without a subscription.
    TimestampTz counted_at;
    // counted_at is before the subscription's anchor: in a period before it
    // (of a future anchor, or of a subscription made after the moment).
    bool counted_before_anchor;
    // tenant_terms_generation() before they were read: a later change of
    // that number says they may be out of date.
    uint64 generation;
};

// Raises 22023 when the resource is unknown.
TenantTerms terms_for(const QuotaKey& key);

const char* subscription_state_name(SubscriptionState state);

// A number that changes whenever configuration changes may have changed
// some tenant's terms (committed ones, and this transaction's own): terms
// read under one number may be out of date under another.
uint64 tenant_terms_generation();

// Has a configuration change committed since the cached terms were read?
// (Takes the invalidation messages that arrived meanwhile.)  Cheap when
// nothing changed; a true answer may be about any tenant.
bool tenant_terms_may_have_changed();

// Periods are counted at the transaction's start (now()), as the contract
// says, until the transaction sees a change of the tenant's billing schedule
// carry the period one of its consumptions counts in (it waited for the
// change, or met it at commit): from then on, for that tenant, at the
// moment it saw that.  A new anchor is the changing transaction's now(),
// later than this one's start, which under the new schedule lies in a
// period that ended as it began; the change carried the tenant's usage to
// the period that counts at its own now().  Counted at the transaction's
// start, such a consumption would land in that ended period instead,
// beside the usage it should join, and the tenant could pass its limit by
// it (isolation anchor_move_in_flight, anchor_move_period_end).
void count_periods_from_now(const QuotaKey& key);

// The key's terms with its period the one that counts at this moment (the
// clock, not now()), for deciding whether a change carried a period.
TenantTerms terms_at_this_moment(const QuotaKey& key);

// Drops the key's cached terms and the plans' intervals and limits: the
// next terms_for() reads them from the tables, with the latest snapshot.
// For a change that has committed but whose invalidation messages are not
// out yet (terms_recheck.hpp, terms_changed_in_storage).
void forget_tenant_terms(const QuotaKey& key);

// Relcache invalidation callback hook: drops cached terms when relid is a
// configuration table (or InvalidOid, "everything").
void invalidate_tenant_terms(Oid relid);

} // namespace zechat::billing::pg
