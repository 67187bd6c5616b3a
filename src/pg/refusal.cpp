#include "refusal.hpp"

namespace zechat::billing::pg {

namespace {

// CONTRACT.md gives PT402 one HINT whatever the reason: PostgREST hands it to
// the tenant's client as it is, so it names nothing only an admin can run.
constexpr const char* refusal_hint = "Upgrade the plan to raise this limit.";

} // namespace

void report_refusal(const QuotaKey& key, Limit limit, int64 used, int64 requested,
                    RefusalReason reason, SubscriptionState subscription)
{
    Refusal refusal{key.tenant_id, static_cast<std::size_t>(key.tenant_id_length),
                    key.resource,  static_cast<std::size_t>(key.resource_length),
                    limit,         used,
                    requested,     reason};
    char* detail = static_cast<char*>(palloc(refusal_detail_capacity));
    format_refusal_detail(refusal, detail, refusal_detail_capacity);

    switch (reason) {
    case RefusalReason::limit_reached:
        if (limit.unlimited)
            break;
        ereport(ERROR, (errcode(ZB_ERRCODE_QUOTA_EXCEEDED),
                        errmsg("quota exceeded: %s limit of " INT64_FORMAT " reached for tenant %s",
                               key.resource, limit.value, key.tenant_id),
                        errdetail_internal("%s", detail),
                        errhint("%s", refusal_hint)));
        break;
    case RefusalReason::no_subscription:
        ereport(ERROR, (errcode(ZB_ERRCODE_QUOTA_EXCEEDED),
                        errmsg("quota exceeded: tenant %s has no subscription (%s)", key.tenant_id,
                               key.resource),
                        errdetail_internal("%s", detail),
                        errhint("%s", refusal_hint)));
        break;
    case RefusalReason::subscription_inactive:
        ereport(ERROR, (errcode(ZB_ERRCODE_QUOTA_EXCEEDED),
                        errmsg("quota exceeded: subscription of tenant %s is %s (%s)",
                               key.tenant_id, subscription_state_name(subscription), key.resource),
                        errdetail_internal("%s", detail),
                        errhint("%s", refusal_hint)));
        break;
    }
    elog(ERROR, "zechat_billing: refusal without a reason");
    pg_unreachable();
}

void report_past_bigint(const char* resource, const char* tenant_id)
{
    ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                    errmsg("usage of %s by tenant %s would exceed the bigint range", resource,
                           tenant_id)));
    pg_unreachable();
}

} // namespace zechat::billing::pg
