// Changes of the configuration tables reaching every backend's cached terms:
// the trigger billing._config_changed (020_config_invalidation.sql) queues
// PostgreSQL's invalidation messages and, in shared-memory mode, has the
// commit counted in shared memory too (config_change_counts.hpp).
#pragma once

#include "pg_headers.hpp"

namespace zechat::billing::pg {

// Shared-memory mode: installs the transaction callback that counts a
// committed change, and the utility hook that counts ALTER TABLE of a
// configuration table and COMMIT PREPARED; called from _PG_init while
// shared_preload_libraries is processed.
void register_config_change_callback();

} // namespace zechat::billing::pg
