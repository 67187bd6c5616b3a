#include "terms_recheck.hpp"

namespace zechat::billing::pg {

namespace {

// Do the two say something different about the consumption: its limit,
// the subscription, the period that counts?
bool terms_differ(const TenantTerms& a, const TenantTerms& b)
{
    bool same_limit = limits_equal(a.limit, b.limit);
    bool same_period = a.has_usage_period == b.has_usage_period &&
                       (!a.has_usage_period || a.usage_period_start == b.usage_period_start);
    return !same_limit || !same_period || a.subscription != b.subscription || a.kind != b.kind;
}

// The key's terms now, in the period a schedule change carried the one of
// `terms` to (period_differs_now): do they differ from `terms`?
bool terms_differ_now(const QuotaKey& key, const TenantTerms& terms)
{
    TenantTerms now;
    (void)period_differs_now(key, terms.usage_period_start, terms.period_end, &now);
    return terms_differ(terms, now);
}

} // namespace

bool period_differs_now(const QuotaKey& key, TimestampTz period_start, TimestampTz period_end,
                        TenantTerms* now)
{
    *now = terms_for(key);
    // A period is its start and its end: a new schedule can start a period
    // where the old one started and end it sooner (10-second periods made
    // 3-second, a month made days, from the same anchor), and then carried
    // the old period's usage to its period at the change, later.  Taken for
    // the same period by its start, a transaction in flight across such a
    // change stayed behind in shared-memory mode, in the new schedule's
    // ended first period, and the period at the change admitted its whole
    // limit again (8 and 10 of 10; a helper's differential model of the two
    // modes, 2026-12-07).
    if (now->kind != ResourceKind::period || !now->has_usage_period ||
        (now->usage_period_start == period_start && now->period_end == period_end))
        return false;
    // The change carried the period to the one that counts at its now(),
    // which the period that counts at this moment is (or follows): it
    // overlaps the old one.  Counted there from now on, for this tenant
    // (count_periods_from_now).  A period that ended before the new
    // schedule's current one began was closed (its usage went to
    // closed_periods), and a late consumption of it counts as at this
    // transaction's start (at commit, a change in flight on a closed period
    // is added to it first: late_closed_usage.hpp).  (Not by whether the
    // old period still runs: it may have ended between the change and this
    // transaction seeing it.)
    TenantTerms moment = terms_at_this_moment(key);
    if (moment.has_usage_period && moment.usage_period_start < period_end) {
        count_periods_from_now(key);
        *now = terms_for(key);
    }
    return now->usage_period_start != period_start;
}

bool period_moved_since(const QuotaKey& key, const TenantTerms& terms)
{
    TenantTerms now;
    return terms.kind == ResourceKind::period && tenant_terms_may_have_changed() &&
           period_differs_now(key, terms.usage_period_start, terms.period_end, &now);
}

bool terms_changed_since(const QuotaKey& key, const TenantTerms& terms)
{
    return tenant_terms_may_have_changed() && terms_differ_now(key, terms);
}

bool terms_changed_in_storage(const QuotaKey& key, const TenantTerms& terms)
{
    if (terms.kind != ResourceKind::period)
        return terms_changed_since(key, terms);
    forget_tenant_terms(key);
    return terms_differ_now(key, terms);
}

} // namespace zechat::billing::pg
