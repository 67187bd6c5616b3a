// Validation of tenant ids and resource names (src/core/tenant_key).
#include <string>

#include <gtest/gtest.h>

#include "tenant_key.hpp"

using namespace zechat::billing;

TEST(TenantId, IsOneToSixtyThreeBytes)
{
    EXPECT_EQ(check_tenant_id(0), TenantIdProblem::empty);
    EXPECT_EQ(check_tenant_id(1), TenantIdProblem::none);
    EXPECT_EQ(check_tenant_id(63), TenantIdProblem::none);
    EXPECT_EQ(check_tenant_id(64), TenantIdProblem::too_long);
    EXPECT_EQ(check_tenant_id(static_cast<std::size_t>(-1)), TenantIdProblem::too_long);
}

namespace {
bool valid(const std::string& name)
{
    return is_valid_resource_name(name.data(), name.size());
}
} // namespace

TEST(ResourceName, LowerCaseIdentifiersAreValid)
{
    EXPECT_TRUE(valid("messages"));
    EXPECT_TRUE(valid("whatsapp_sessions"));
    EXPECT_TRUE(valid("api_calls_v2"));
    EXPECT_TRUE(valid("x"));
    EXPECT_TRUE(valid(std::string(40, 'a')));
}

TEST(ResourceName, AnythingElseIsRejected)
{
    EXPECT_FALSE(valid(""));
    EXPECT_FALSE(valid("Messages"));
    EXPECT_FALSE(valid("1messages"));
    EXPECT_FALSE(valid("_messages"));
    EXPECT_FALSE(valid("api-calls"));
    EXPECT_FALSE(valid("api calls"));
    EXPECT_FALSE(valid("mensagens\xc3\xa9"));
    EXPECT_FALSE(valid(std::string(41, 'a')));
    EXPECT_FALSE(is_valid_resource_name(nullptr, 3));
}
