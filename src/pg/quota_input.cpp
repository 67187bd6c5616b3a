#include <cstring>

#include "quota_input.hpp"

#include "../core/tenant_key.hpp"

namespace zechat::billing::pg {

QuotaKey make_quota_key(const char* tenant_id, const char* resource)
{
    size_t tenant_length = std::strlen(tenant_id);
    switch (check_tenant_id(tenant_length)) {
    case TenantIdProblem::empty:
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("tenant id must not be empty")));
        break;
    case TenantIdProblem::too_long:
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("tenant id is %zu bytes long, the maximum is %zu", tenant_length,
                               max_tenant_id_bytes)));
        break;
    case TenantIdProblem::none:
        break;
    }
    size_t resource_length = std::strlen(resource);
    if (!is_valid_resource_name(resource, resource_length))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("unknown resource \"%s\"", resource),
                        errhint("Known resources are listed in billing.resources.")));
    return QuotaKey{tenant_id, static_cast<int>(tenant_length), resource,
                    static_cast<int>(resource_length)};
}

void require_positive_amount(int64 amount)
{
    if (amount <= 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("amount must be greater than zero, got " INT64_FORMAT, amount)));
}

} // namespace zechat::billing::pg
