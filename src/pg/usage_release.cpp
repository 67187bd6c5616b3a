#include "usage_release.hpp"

#include "admission_internal.hpp"

#include "counter_shmem.hpp"
#include "insert_confirmation.hpp"
#include "pending_usage.hpp"
#include "usage_part_rows.hpp"
#include "usage_store.hpp"

namespace zechat::billing::pg {

namespace {

// Only gauges are given back; 22023 for a period resource, also with
// enforcement off (current_remaining_of_gauge).
void require_gauge(const QuotaKey& key, const TenantTerms& terms)
{
    if (terms.kind != ResourceKind::gauge)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("cannot release \"%s\": it is a period resource", key.resource),
                 errdetail("Usage of a period resource only restarts with a new billing period.")));
}

// Shared-memory mode: a key this transaction has not touched, with no
// counter (so no transaction holds anything on it) and no usage stored,
// has nothing to give back, and a release takes no counter for it, as lock
// mode locks no row: else one transaction releasing made-up tenants would
// hold every counter of the server until it ended, and consumption in every
// database would fail with 53400 (tests/scripts/counter_exhaustion.sh).  A
// counter placed meanwhile changes nothing: its usage was 0.
bool nothing_to_give_back(const QuotaKey& key, TimestampTz period_start)
{
    if (find_pending_usage(key, period_start) != nullptr)
        return false;
    lock_usage_parts_for_writing(); // before the read: usage_part_rows.hpp
    return !counter_present(key, period_start) && read_usage(key, period_start) == 0;
}

} // namespace

QuotaRemaining release_quota(const QuotaKey& key, int64 amount, ReleaseOf of)
{
    prevent_change_unless_writable("release_quota");
    TenantTerms terms = terms_for(key);
    require_gauge(key, terms);

    if (counter_shmem_available()) {
        if (nothing_to_give_back(key, terms.usage_period_start))
            return remaining_after(0, terms.limit);
        PendingUsage* usage = track_counter_usage(key, terms.usage_period_start);
        prepare_pending_change(usage);
        give_back_on_counter(usage, amount, of == ReleaseOf::stored_rows);
        return remaining_after(counter_usage(usage), terms.limit);
    }
    PendingUsage* usage = locked_usage(key, terms.usage_period_start);
    if (usage == nullptr) // no usage row: nothing to give back
        return remaining_after(0, terms.limit);
    // Nothing given back counts on rows not confirmed yet
    // (insert_confirmation.hpp), as give_back_on_counter() does.
    int64 used = pending_current_usage(usage) - unconfirmed_amount(usage);
    int64 new_used = usage_after_release(used, amount);
    if (new_used != used)
        add_pending_usage(usage, new_used - used);
    return remaining_after(pending_current_usage(usage), terms.limit);
}

void lock_gauge_key_before(const QuotaKey& key)
{
    if (counter_shmem_available())
        return;
    prevent_change_unless_writable("release_quota");
    TenantTerms terms = terms_for(key);
    if (terms.kind == ResourceKind::gauge)
        (void)locked_usage(key, terms.usage_period_start); // no row: nothing to lock
}

QuotaRemaining current_remaining_of_gauge(const QuotaKey& key)
{
    require_gauge(key, terms_for(key));
    return current_remaining(key);
}

} // namespace zechat::billing::pg
