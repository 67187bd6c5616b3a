#include "config_change_counts.hpp"

#include "counter_shmem_internal.hpp"

namespace zechat::billing::pg {

uint64 config_changes_committed()
{
    return shared_counters == nullptr ? 0 : pg_atomic_read_u64(&shared_counters->config_changes);
}

void count_config_change_committed()
{
    if (shared_counters != nullptr)
        (void)pg_atomic_fetch_add_u64(&shared_counters->config_changes, 1);
}

bool config_change_committing()
{
    return shared_counters != nullptr &&
           pg_atomic_read_u32(&shared_counters->config_changes_committing) != 0;
}

void count_config_change_committing(bool begins)
{
    if (shared_counters == nullptr)
        return;
    if (begins)
        (void)pg_atomic_fetch_add_u32(&shared_counters->config_changes_committing, 1);
    else
        (void)pg_atomic_fetch_sub_u32(&shared_counters->config_changes_committing, 1);
}

} // namespace zechat::billing::pg
