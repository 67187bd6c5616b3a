// What an UPDATE of a gauge's row changes in its usage (the enforcement
// trigger, src/pg/enforce_trigger.cpp).
//
// The old version of the row counts as it was counted: a row with a NULL,
// empty or over-long tenant id never was (it cannot be written while the
// table is enforced, and the backfill and recount skip those from before),
// and a negative amount (from before enforce_quota) counted 0.  The new
// version counts as any row being written: its tenant and a non-negative
// amount, or the write is refused before any of this.
//
// Header only, the functions inline: the trigger calls them for every
// updated row.  Only standard headers here, as everywhere in src/core
// (no_postgres.hpp guards the core's translation units).
#pragma once

#include <algorithm>
#include <cstdint>

namespace zechat::billing {

// The amount a stored row counted with: 0 for a row whose tenant never
// counted, and for a negative amount.
inline int64_t gauge_row_counted_amount(bool tenant_counted, int64_t stored) noexcept
{
    return tenant_counted ? std::max<int64_t>(stored, 0) : 0;
}

// A row that was never counted stays so: with no tenant to bill, or with
// its tenant and its (negative) amount as they were.  `old_stored` is the
// old version's amount as stored.
inline bool gauge_update_stays_uncounted(bool tenant_kept, bool old_tenant_counted,
                                         bool amount_kept, int64_t old_stored) noexcept
{
    return tenant_kept && (!old_tenant_counted || (amount_kept && old_stored < 0));
}

// What an update consumes, for the new version's tenant (checked against
// the limit first), and gives back, for the old version's.
struct GaugeUpdate {
    int64_t consumed;
    int64_t given_back;
};

// `old_amount` as counted (gauge_row_counted_amount), `new_amount` as
// written, both at least 0.  A row that keeps its tenant changes its usage
// by the difference only; one that moves to another tenant is given back
// in full by the old one and consumed in full by the new one.
inline GaugeUpdate gauge_update_change(int64_t old_amount, int64_t new_amount,
                                       bool tenant_kept) noexcept
{
    if (!tenant_kept)
        return GaugeUpdate{new_amount, old_amount};
    return GaugeUpdate{std::max<int64_t>(new_amount - old_amount, 0),
                       std::max<int64_t>(old_amount - new_amount, 0)};
}

} // namespace zechat::billing
