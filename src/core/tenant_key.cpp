#include "tenant_key.hpp"

#include "no_postgres.hpp"

namespace zechat::billing {

TenantIdProblem check_tenant_id(std::size_t length_in_bytes) noexcept
{
    if (length_in_bytes == 0)
        return TenantIdProblem::empty;
    if (length_in_bytes > max_tenant_id_bytes)
        return TenantIdProblem::too_long;
    return TenantIdProblem::none;
}

bool is_valid_resource_name(const char* name, std::size_t length) noexcept
{
    if (name == nullptr || length == 0 || length > max_resource_name_bytes)
        return false;
    if (name[0] < 'a' || name[0] > 'z')
        return false;
    for (std::size_t i = 1; i < length; ++i) {
        const char c = name[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

} // namespace zechat::billing
