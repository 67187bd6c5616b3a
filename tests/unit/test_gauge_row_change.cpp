// An UPDATE of a gauge's row (src/core/gauge_row_change): a row keeping its
// tenant changes usage by the difference, one moving to another tenant is
// given back by the old one and consumed by the new one, and a row that was
// never counted (no tenant to bill, a negative amount) gives back nothing
// and stays uncounted while its tenant and amount stay as they were.
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "gauge_row_change.hpp"

using namespace zechat::billing;

namespace {

constexpr int64_t max = std::numeric_limits<int64_t>::max();
constexpr int64_t min = std::numeric_limits<int64_t>::min();

void expect_change(int64_t old_amount, int64_t new_amount, bool tenant_kept, int64_t consumed,
                   int64_t given_back)
{
    GaugeUpdate change = gauge_update_change(old_amount, new_amount, tenant_kept);
    EXPECT_EQ(change.consumed, consumed)
        << old_amount << " -> " << new_amount << (tenant_kept ? " kept" : " moved");
    EXPECT_EQ(change.given_back, given_back)
        << old_amount << " -> " << new_amount << (tenant_kept ? " kept" : " moved");
}

} // namespace

TEST(GaugeRowChange, GrowthConsumesTheDifferenceOnly)
{
    expect_change(3, 10, true, 7, 0);
    expect_change(0, 5, true, 5, 0);
}

TEST(GaugeRowChange, ShrinkGivesBackTheDifferenceOnly)
{
    expect_change(10, 3, true, 0, 7);
    expect_change(5, 0, true, 0, 5);
}

TEST(GaugeRowChange, TheSameAmountChangesNothing)
{
    expect_change(4, 4, true, 0, 0);
    expect_change(0, 0, true, 0, 0);
    expect_change(max, max, true, 0, 0);
}

TEST(GaugeRowChange, AMoveToAnotherTenantConsumesAndGivesBackInFull)
{
    expect_change(3, 10, false, 10, 3);
    expect_change(10, 3, false, 3, 10);
    expect_change(4, 4, false, 4, 4);
    expect_change(0, 0, false, 0, 0);
}

TEST(GaugeRowChange, HoldsTheBigintEdges)
{
    // Both amounts at least 0: the difference never overflows.
    expect_change(0, max, true, max, 0);
    expect_change(max, 0, true, 0, max);
    expect_change(1, max, true, max - 1, 0);
    expect_change(max, max - 1, true, 0, 1);
    expect_change(0, max, false, max, 0);
    expect_change(max, max, false, max, max);
}

TEST(GaugeRowChange, ARowCountsItsAmountButNeverBelowZero)
{
    EXPECT_EQ(gauge_row_counted_amount(true, 7), 7);
    EXPECT_EQ(gauge_row_counted_amount(true, 0), 0);
    EXPECT_EQ(gauge_row_counted_amount(true, max), max);
    // A negative amount from before enforce_quota counted 0.
    EXPECT_EQ(gauge_row_counted_amount(true, -1), 0);
    EXPECT_EQ(gauge_row_counted_amount(true, min), 0);
}

TEST(GaugeRowChange, ARowWhoseTenantNeverCountedCountsNothing)
{
    EXPECT_EQ(gauge_row_counted_amount(false, 7), 0);
    EXPECT_EQ(gauge_row_counted_amount(false, max), 0);
    EXPECT_EQ(gauge_row_counted_amount(false, -3), 0);
}

TEST(GaugeRowChange, AnUncountedOldRowGivesBackNothing)
{
    // From a NULL (or over-long) tenant to a tenant: consumed in full.
    expect_change(gauge_row_counted_amount(false, 8), 8, false, 8, 0);
    // A negative amount raised for the same tenant: consumed in full.
    expect_change(gauge_row_counted_amount(true, -5), 6, true, 6, 0);
    // A negative amount moved to another tenant: consumed there.
    expect_change(gauge_row_counted_amount(true, -5), 2, false, 2, 0);
}

TEST(GaugeRowChange, AnUncountedRowStaysSoWhileItsTenantStays)
{
    // No tenant to bill, before and after: whatever the amount does.
    EXPECT_TRUE(gauge_update_stays_uncounted(true, false, true, 5));
    EXPECT_TRUE(gauge_update_stays_uncounted(true, false, false, 5));
    EXPECT_TRUE(gauge_update_stays_uncounted(true, false, false, -5));
    // A negative amount, tenant and amount as they were.
    EXPECT_TRUE(gauge_update_stays_uncounted(true, true, true, -5));
    EXPECT_TRUE(gauge_update_stays_uncounted(true, true, true, min));
}

TEST(GaugeRowChange, AnUpdateThatGivesTheRowSomethingToCountCountsIt)
{
    // A negative amount changed: the new one is counted.
    EXPECT_FALSE(gauge_update_stays_uncounted(true, true, false, -5));
    // Another tenant: the new row is counted (or refused).
    EXPECT_FALSE(gauge_update_stays_uncounted(false, false, true, 5));
    EXPECT_FALSE(gauge_update_stays_uncounted(false, true, true, -5));
    // A row that counted is no uncounted row, whatever happens to it.
    EXPECT_FALSE(gauge_update_stays_uncounted(true, true, true, 0));
    EXPECT_FALSE(gauge_update_stays_uncounted(true, true, true, 5));
    EXPECT_FALSE(gauge_update_stays_uncounted(true, true, false, 5));
}
