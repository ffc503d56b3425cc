// The Bind-time check of parameters bound to a tenant column (policy::checkTenantParameters).
#include <gtest/gtest.h>

#include "policy/engine.h"

namespace tenantwall::policy {
namespace {

using Values = std::vector<std::optional<std::string_view>>;

TEST(TenantParameters, OwnTenantInTextOrBinaryPasses) {
  EXPECT_EQ(checkTenantParameters({1}, {}, Values{"acme"}, "acme"), std::nullopt);
  EXPECT_EQ(checkTenantParameters({2}, {1}, Values{"x", "acme"}, "acme"), std::nullopt);
  EXPECT_EQ(checkTenantParameters({1, 2}, {0, 1}, Values{"acme", "acme"}, "acme"), std::nullopt);
  EXPECT_EQ(checkTenantParameters({}, {}, Values{"globex"}, "acme"), std::nullopt);
}

TEST(TenantParameters, AnythingElseIsRefused) {
  for (const Values& values : {Values{"globex"}, Values{std::nullopt}, Values{"ACME"},
                               Values{"acme "}, Values{std::string_view("acme\0", 5)}}) {
    auto refusal = checkTenantParameters({1}, {}, values, "acme");
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(refusal->sqlstate, "42501");
  }
  auto missing = checkTenantParameters({3}, {}, Values{"acme"}, "acme");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->sqlstate, "08P01");
  auto format = checkTenantParameters({1}, {2}, Values{"acme"}, "acme");
  ASSERT_TRUE(format.has_value());
  EXPECT_EQ(format->sqlstate, "08P01");
}

TEST(TenantParameters, DeclaredTypesMustBeTextLike) {
  EXPECT_EQ(checkTenantParameterTypes({1}, {}), std::nullopt);
  EXPECT_EQ(checkTenantParameterTypes({1, 2}, {25, 1043}), std::nullopt);
  EXPECT_EQ(checkTenantParameterTypes({2}, {23, 0}), std::nullopt);  // $1 is not the tenant
  auto bytea = checkTenantParameterTypes({1}, {17});
  ASSERT_TRUE(bytea.has_value());
  EXPECT_EQ(bytea->sqlstate, "42501");
}

}  // namespace
}  // namespace tenantwall::policy
