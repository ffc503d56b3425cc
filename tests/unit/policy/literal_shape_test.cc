// Shapes of statements that differ only in literals, and the shared rewrites made from them.
#include "policy/literal_shape.h"

#include <gtest/gtest.h>

#include <random>

#include "policy/decision_cache.h"
#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

TEST(LiteralShape, IntegersAndStringsBecomeHoles) {
  const auto shape = literalShape("SELECT a FROM t1 WHERE id = 42 AND name = 'it''s' LIMIT 5");
  ASSERT_TRUE(shape);
  EXPECT_EQ(shape->shape, "SELECT a FROM t1 WHERE id = \x01I AND name = \x01S LIMIT \x01I");
  ASSERT_EQ(shape->literals.size(), 3u);
  EXPECT_EQ(shape->literals[0], "42");
  EXPECT_EQ(shape->literals[1], "'it''s'");
  EXPECT_EQ(shape->literals[2], "5");
  EXPECT_EQ(literalShape("SELECT a FROM t WHERE id = 7")->shape,
            literalShape("SELECT a FROM t WHERE id = 123456789")->shape);
}

TEST(LiteralShape, NumbersThatAreNotPlainIntegersStayInTheShape) {
  const auto shape = literalShape("SELECT 1.5, 2e3, 1234567890, x2 FROM t WHERE id = 3");
  ASSERT_TRUE(shape);
  EXPECT_EQ(shape->shape, "SELECT 1.5, 2e3, 1234567890, x2 FROM t WHERE id = \x01I");
}

TEST(LiteralShape, QuotedIdentifiersAreNotStrings) {
  const auto shape = literalShape("SELECT \"it's\" FROM t WHERE a = 'x'");
  ASSERT_TRUE(shape);
  EXPECT_EQ(shape->shape, "SELECT \"it's\" FROM t WHERE a = \x01S");
}

TEST(LiteralShape, TextThatIsNotPlainHasNoShape) {
  for (const char* sql : {
           "SELECT 1 -- comment", "SELECT /* c */ 1", "SELECT $1", "SELECT $$x$$", "SELECT E'\\n'",
           "SELECT 'a\\'", "SELECT x'ff'", "SELECT U&'x'", "SELECT N'x'", "SELECT 'a'\n'b'",
           "SELECT 'unterminated", "SELECT \"unterminated",
           "SELECT a FROM t",  // nothing to abstract
       }) {
    EXPECT_FALSE(literalShape(sql)) << sql;
  }
}

TEST(LiteralShape, ProbesAndTemplatesRoundTrip) {
  const std::string sql = "SELECT a FROM t WHERE id = 42 AND b = 'x' AND c = 42";
  const auto shape = literalShape(sql);
  ASSERT_TRUE(shape);
  const auto probe = probeText(sql, *shape);
  ASSERT_TRUE(probe);
  EXPECT_EQ(*probe, "SELECT a FROM t WHERE id = 917360000 AND b = 'twprb1q' AND c = 917360002");
  // A rewrite may repeat a literal (pushdown copies it) and reorder text around it.
  const auto rewrite = rewriteTemplate(
      "SELECT a FROM (SELECT a FROM t WHERE id = 917360000) t WHERE id = 917360000 AND b = "
      "'twprb1q' AND c = 917360002",
      *shape);
  ASSERT_TRUE(rewrite);
  EXPECT_EQ(fillTemplate(*rewrite, shape->literals),
            "SELECT a FROM (SELECT a FROM t WHERE id = 42) t WHERE id = 42 AND b = 'x' AND c = 42");
  EXPECT_FALSE(probeText("SELECT 917360001 + 1", *literalShape("SELECT 917360001 + 1")));
}

TEST(LiteralShape, TemplateNeedsEveryProbeAsAWholeToken) {
  const auto shape = literalShape("SELECT a FROM t WHERE id = 1 AND b = 'x'");
  ASSERT_TRUE(shape);
  EXPECT_FALSE(rewriteTemplate("SELECT a FROM t WHERE id = 917360000", *shape));  // b lost
  EXPECT_FALSE(rewriteTemplate("SELECT 9173600001, 'twprb1q'", *shape));          // longer number
  EXPECT_FALSE(rewriteTemplate("SELECT 917360000, 'xtwprb1q'", *shape));  // probe inside text
}

std::shared_ptr<const Policy> referencePolicy() {
  return loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", 1);
}

const Principal kAlice{"acme", "alice", "analyst", {}, {}};

TEST(ShapeCache, StatementsOfOneShapeShareARewriteThatMatchesAFullDecision) {
  DecisionCache cache;
  const auto policy = referencePolicy();
  std::mt19937 random(7);
  for (int i = 0; i < 50; ++i) {
    const std::string sql =
        "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = "
        "o.customer_id WHERE o.id = " +
        std::to_string(random() % 100000) + " AND o.status = 'st" + std::to_string(i) + "''x'";
    const auto cached = cache.decide(kAlice, sql, *policy);
    const Decision full = decide(kAlice, sql, *policy);
    ASSERT_TRUE(full) << full.error().message;
    ASSERT_TRUE(cached->decision);
    EXPECT_EQ(cached->decision->sql, full->sql);
    EXPECT_EQ(cached->decision->relations, full->relations);
  }
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 49u);
}

TEST(ShapeCache, ValueDependentDecisionsAreNeverShared) {
  DecisionCache cache;
  const auto policy = referencePolicy();
  // The tenant column compared with the own tenant is allowed; with another tenant refused.
  const auto own = cache.decide(kAlice, "SELECT id FROM orders WHERE tenant_id = 'acme'", *policy);
  ASSERT_TRUE(own->decision);
  const auto other =
      cache.decide(kAlice, "SELECT id FROM orders WHERE tenant_id = 'globex'", *policy);
  ASSERT_FALSE(other->decision);
  EXPECT_EQ(other->decision.error().sqlstate, "42501");
  // A regclass literal naming a visible table is allowed; a hidden one is not.
  ASSERT_TRUE(cache.decide(kAlice, "SELECT 'customers'::regclass", *policy)->decision);
  const auto hidden = cache.decide(kAlice, "SELECT 'internal_audit'::regclass", *policy);
  ASSERT_FALSE(hidden->decision);
  EXPECT_EQ(hidden->decision.error().sqlstate, "42P01");
  // A write of the tenant column: own tenant allowed, another refused.
  ASSERT_TRUE(cache
                  .decide(kAlice,
                          "INSERT INTO orders (tenant_id, customer_id, amount, status) "
                          "VALUES ('acme', 1, 5, 'open')",
                          *policy)
                  ->decision);
  const auto foreign = cache.decide(kAlice,
                                    "INSERT INTO orders (tenant_id, customer_id, amount, status) "
                                    "VALUES ('globex', 1, 5, 'open')",
                                    *policy);
  ASSERT_FALSE(foreign->decision);
  EXPECT_EQ(foreign->decision.error().sqlstate, "42501");
}

TEST(ShapeCache, AnotherPrincipalOrPolicyNeverSharesAShape) {
  DecisionCache cache;
  const auto policy = referencePolicy();
  const Principal bob{"globex", "bob", "analyst", {}, {}};
  cache.decide(kAlice, "SELECT name FROM customers WHERE id = 1", *policy);
  const auto theirs = cache.decide(bob, "SELECT name FROM customers WHERE id = 2", *policy);
  ASSERT_TRUE(theirs->decision);
  EXPECT_NE(theirs->decision->sql.find("'globex'"), std::string::npos);
  EXPECT_EQ(theirs->decision->sql.find("'acme'"), std::string::npos);
  const auto reloaded =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", 2);
  cache.decide(kAlice, "SELECT name FROM customers WHERE id = 3", *reloaded);
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.misses(), 3u);
}

}  // namespace
}  // namespace tenantwall::policy
