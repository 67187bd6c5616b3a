// Shared-memory mode: DROP DATABASE takes the database's counters out of the
// shared counter table (counter_forget_database), where, keyed by the
// database's OID, they would otherwise wait to be evicted, and a database
// created again under that OID from the same template would find them, and
// admit by the old database's usage, past the new one's limit.
#pragma once

namespace zechat::billing::pg {

// Installs the ProcessUtility hook; called from _PG_init in
// shared_preload_libraries mode.
void register_dropped_database_hook();

} // namespace zechat::billing::pg
