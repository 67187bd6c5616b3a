// Settings (GUCs) of zechat_billing, defined in module.cpp.
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// zechat_billing.enabled (superuser only): off bypasses enforcement for
// maintenance; run billing.recount() afterwards.
extern bool zb_enabled;

// zechat_billing.enabled: off bypasses enforcement (maintenance).
inline bool enforcement_enabled()
{
    return zb_enabled;
}

} // namespace zechat::billing::pg
