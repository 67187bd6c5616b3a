// Settings (GUCs) of zechat_billing: every setting's variable is declared
// here, and nowhere else.  Each is defined next to the code it sizes or
// that checks it, and registered from _PG_init (module.cpp).
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// zechat_billing.enabled (superuser only): off bypasses enforcement for
// maintenance; run billing.recount() afterwards.  Defined and registered in
// module.cpp.
extern bool zb_enabled;

// zechat_billing.max_counters (postmaster setting): the entries of the
// counter table, and the slots of each shared hint table.  Defined in
// counter_shmem.cpp; registered in module.cpp's _PG_init only while
// shared_preload_libraries is processed, before request_counter_shmem(),
// whose request hook sizes shared memory from it.
extern int zb_max_counters;

// zechat_billing.alert_thresholds (superuser only): the text as set.  Its
// check hook parses it, and readers take the parsed list from
// alert_thresholds() (usage_alerts.hpp).  Defined and registered, with its
// hooks, in usage_alerts.cpp (define_alert_settings, called from _PG_init).
extern char* zb_alert_thresholds;

// zechat_billing.enabled: off bypasses enforcement (maintenance).
inline bool enforcement_enabled()
{
    return zb_enabled;
}

} // namespace zechat::billing::pg
