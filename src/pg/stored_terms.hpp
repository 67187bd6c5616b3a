// A tenant's terms for one resource as the configuration tables hold them,
// read by primary key (resources, subscriptions, plans, plan_limits,
// limit_overrides) with the heap and index access methods, without SPI and
// the executor.
//
// What tenant_terms.cpp's cache loads on a miss: once per tenant, resource
// and backend, which for a backend that meets a thousand tenants made the
// SQL version (billing._tenant_terms, a five-table join planned and started
// per call) the largest part of its first minutes.  What tenants share (a
// resource's kind, a plan's interval and limit) is kept per backend as well,
// so a tenant met for the first time costs two lookups (its subscription,
// its override); that is dropped with the tenant terms on every
// configuration change.  The rule that combines
// the rows is the pure core's effective_limit(); billing._tenant_terms
// spells the same rule for SQL readers.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

struct StoredTerms {
    ResourceKind kind;
    SubscriptionState subscription;
    Limit limit;
    // Only with a subscription: where its billing periods start from, and
    // their length (the plan's billing_interval).
    TimestampTz anchor;
    Interval billing_interval;
};

// Reads the terms of `key` as the latest snapshot shows them, so that a
// change committed before this call is seen even inside a REPEATABLE READ
// transaction: limits are enforcement state, not the caller's data.  In
// parallel mode, as the query's snapshot shows them, and then keeps none of
// the shared rows it read (read_snapshot.hpp).  Raises 22023 when the
// resource is unknown.
void read_stored_terms(const QuotaKey& key, StoredTerms* terms);

// Drops what read_stored_terms() keeps of the rows many tenants share
// (resource kinds; plans' intervals and limits).  tenant_terms.cpp calls it
// when it drops its own cache: after a configuration change, so that no
// load after the change combines a row read before it.
void forget_plan_terms();

// Drops the plans' intervals and limits only (a few rows, read again at
// once): for re-reading a tenant's period from the tables.
void forget_plans();

} // namespace zechat::billing::pg
