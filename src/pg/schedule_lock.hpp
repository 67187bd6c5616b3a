// A change of a tenant's billing schedule moves the usage of each of its
// keys (resource, period) to the new period.  A key with usage or
// something in flight is serialised with its consumers by what it already
// has: lock mode's row lock, shared-memory mode's counter mark.  A key with
// nothing yet (no row, no counter) has nothing to lock or mark, so a
// consumer that creates its row or places its counter while the change is
// in flight, with terms read before the change commits, would consume in
// the old period after the move.  These locks close that gap:
//
//  * the mover, for each key it skips, takes the tenant's schedule lock
//    exclusively until its transaction ends (and checks the key again once
//    it holds it);
//  * a consumer about to create a key's row or place its counter holds the
//    tenant's schedule lock shared until the row or counter exists, then
//    lets go: it waits for a mover in flight (and, once the mover has
//    committed, sees the change when it takes the invalidations), and a
//    mover coming later waits until the row or counter is there to see.
//
// Advisory locks of the lock manager, so lock_timeout and the deadlock
// detector apply.  A mover skipping keys of many tenants (an edit of a
// big plan's interval) takes one database-wide lock in exclusive mode past
// a few tenants rather than one lock per tenant, which could fill the lock
// table; consumers take that one shared too.
#pragma once

#include "tenant_terms.hpp"

namespace zechat::billing::pg {

// The mover: before it skips a key of the tenant.
void lock_tenant_schedule(const QuotaKey& key);

// A consumer: around the creation of a key's row or the placing of its
// counter.
void hold_tenant_schedule(const QuotaKey& key);
void release_tenant_schedule(const QuotaKey& key);

} // namespace zechat::billing::pg
