// The decision cache never serves a decision made for another principal or policy snapshot.
#include "policy/decision_cache.h"

#include <gtest/gtest.h>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

std::shared_ptr<const Policy> referencePolicy(std::uint64_t version) {
  return loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", version);
}

const Principal kAlice{"acme", "alice", "analyst", {}, {}};
const Principal kBob{"globex", "bob", "analyst", {}, {}};

TEST(DecisionCacheTest, RepeatedStatementIsAHit) {
  DecisionCache cache;
  auto policy = referencePolicy(1);
  auto first = cache.decide(kAlice, "SELECT name FROM customers", *policy);
  auto second = cache.decide(kAlice, "SELECT name FROM customers", *policy);
  ASSERT_TRUE(first->decision);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(DecisionCacheTest, AnotherTenantNeverGetsTheCachedRewrite) {
  DecisionCache cache;
  auto policy = referencePolicy(1);
  auto alice = cache.decide(kAlice, "SELECT name FROM customers", *policy);
  auto bob = cache.decide(kBob, "SELECT name FROM customers", *policy);
  ASSERT_TRUE(alice->decision);
  ASSERT_TRUE(bob->decision);
  EXPECT_NE(alice->decision->sql.find("'acme'"), std::string::npos) << alice->decision->sql;
  EXPECT_NE(bob->decision->sql.find("'globex'"), std::string::npos) << bob->decision->sql;
  EXPECT_EQ(bob->decision->sql.find("'acme'"), std::string::npos) << bob->decision->sql;
  EXPECT_NE(alice->rewritten_sha256, bob->rewritten_sha256);
  EXPECT_EQ(cache.hits(), 0u);
}

TEST(DecisionCacheTest, SameTenantOtherUserOrRoleIsAMiss) {
  DecisionCache cache;
  auto policy = referencePolicy(1);
  cache.decide(kAlice, "SELECT 1", *policy);
  Principal carol = kAlice;
  carol.user = "carol";
  cache.decide(carol, "SELECT 1", *policy);
  Principal admin = kAlice;
  admin.role = "admin";
  cache.decide(admin, "SELECT 1", *policy);
  Principal grouped = kAlice;
  grouped.groups = {"eu"};
  cache.decide(grouped, "SELECT 1", *policy);
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.misses(), 4u);
}

TEST(DecisionCacheTest, ReloadedPolicyIsAMiss) {
  DecisionCache cache;
  auto v1 = referencePolicy(1);
  auto v2 = referencePolicy(2);
  cache.decide(kAlice, "SELECT name FROM customers", *v1);
  cache.decide(kAlice, "SELECT name FROM customers", *v2);
  EXPECT_EQ(cache.hits(), 0u);
  // A different policy text under the same version number is a different snapshot too.
  auto other = loadPolicyText("tenants: [{id: acme}]\n", "other.yaml", 1);
  auto refused = cache.decide(kAlice, "SELECT name FROM customers", *other);
  EXPECT_FALSE(refused->decision);  // customers is not protected there: unknown table, refused
  EXPECT_EQ(cache.hits(), 0u);
}

TEST(DecisionCacheTest, AuditViewRedactsLiteralsAndHashesTheRewrite) {
  DecisionCache cache;
  auto policy = referencePolicy(1);
  auto d = cache.decide(kAlice, "SELECT name FROM customers WHERE ssn = '123-45-6789'", *policy);
  EXPECT_EQ(d->redacted_sql.find("123-45-6789"), std::string::npos) << d->redacted_sql;
  EXPECT_NE(d->redacted_sql.find("$1"), std::string::npos) << d->redacted_sql;
  EXPECT_EQ(d->rewritten_sha256.size(), 64u);
  auto bad = cache.decide(kAlice, "SELEC 'secret'", *policy);
  EXPECT_FALSE(bad->decision);
  EXPECT_EQ(bad->redacted_sql.find("secret"), std::string::npos) << bad->redacted_sql;
  EXPECT_TRUE(bad->rewritten_sha256.empty());
}

TEST(DecisionCacheTest, KeyFieldsCannotRunTogether) {
  auto policy = referencePolicy(1);
  Principal a{"ab", "c", "r", {}, {}};
  Principal b{"a", "bc", "r", {}, {}};
  EXPECT_NE(decisionCacheKey(a, "x", *policy), decisionCacheKey(b, "x", *policy));
  Principal g1{"t", "u", "r", {"a", "b"}, {}};
  Principal g2{"t", "u", "r", {"ab"}, {}};
  EXPECT_NE(decisionCacheKey(g1, "x", *policy), decisionCacheKey(g2, "x", *policy));
}

TEST(DecisionCacheTest, CapacityIsBounded) {
  DecisionCache cache(8);
  auto policy = referencePolicy(1);
  // Distinct shapes (the alias differs), so statements do not share one rewrite either.
  auto sql = [](int i) { return "SELECT " + std::to_string(i) + " AS c" + std::to_string(i); };
  for (int i = 0; i < 50; ++i) cache.decide(kAlice, sql(i), *policy);
  EXPECT_EQ(cache.size(), 8u);
  cache.decide(kAlice, sql(49), *policy);  // most recent survives
  EXPECT_EQ(cache.hits(), 1u);
  cache.decide(kAlice, sql(0), *policy);  // oldest was evicted
  EXPECT_EQ(cache.hits(), 1u);
}

}  // namespace
}  // namespace tenantwall::policy
