// Which simple-protocol statements get a prepared form (policy/decision_cache.h), and that the
// form means the same: literals in value positions only, everything else inline, the tenant
// filter always inline.
#include <gtest/gtest.h>

#include "policy/decision_cache.h"
#include "policy/engine.h"
#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

std::shared_ptr<const Policy> referencePolicy() {
  return loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", 1);
}

const Principal kAlice{"acme", "alice", "analyst", {}, {}};
const Principal kBob{"globex", "bob", "analyst", {}, {}};

// The decision for sql after another statement of the same shape taught the cache.
std::shared_ptr<const CachedDecision> second(DecisionCache& cache, const Principal& who,
                                             const std::string& first, const std::string& sql) {
  auto policy = referencePolicy();
  auto taught = cache.decide(who, first, *policy);
  EXPECT_TRUE(taught->decision) << first;
  auto decided = cache.decide(who, sql, *policy);
  EXPECT_TRUE(decided->decision) << sql;
  return decided;
}

TEST(PreparedFormTest, PointLookupRunsAsAParameterisedStatement) {
  DecisionCache cache;
  auto policy = referencePolicy();
  auto first = cache.decide(kAlice, "SELECT name FROM customers WHERE id = 41", *policy);
  auto next = cache.decide(kAlice, "SELECT name FROM customers WHERE id = 42", *policy);
  ASSERT_TRUE(next->prepared);
  const PreparedForm& form = *next->prepared;
  EXPECT_EQ(form.param_types, std::vector<std::int32_t>{23});
  EXPECT_EQ(next->parameters, std::vector<std::string>{"42"});
  // Every copy of the literal (the pushed-down one in the fence too) is the parameter.
  EXPECT_EQ(form.sql.find("42"), std::string::npos) << form.sql;
  EXPECT_NE(form.sql.find("$1"), std::string::npos) << form.sql;
  EXPECT_NE(form.sql.find("'acme'"), std::string::npos) << form.sql;  // the tenant stays inline
  EXPECT_EQ(form.name, preparedStatementName(form.sql, form.param_types));
  // The statement that taught the shape runs prepared too, with its own literal.
  ASSERT_TRUE(first->prepared);
  EXPECT_EQ(first->prepared->name, form.name);
  EXPECT_EQ(first->parameters, std::vector<std::string>{"41"});
}

// tests/integration/test_prepared_simple.py computes these names the same way to show a client
// cannot run the proxy's statements: a change here must change it there.
TEST(PreparedFormTest, ServerNamesAreAHashOfTextAndTypes) {
  EXPECT_EQ(preparedStatementName("SELECT 1", {23}), "tw_5de186fea5dc438af0edc2d2e09c19d1");
  EXPECT_EQ(preparedStatementName("SELECT 1", {}), "tw_85f1ac9983155ca0cd06f4aeddf84049");
  // Every such name is one no client may prepare, execute or deallocate (engine.h).
  EXPECT_TRUE(isReservedStatementName(preparedStatementName("SELECT 1", {23})));
  EXPECT_TRUE(isReservedStatementName(kNoStatementName));
  EXPECT_FALSE(isReservedStatementName("tw_node_by_id"));
}

TEST(PreparedFormTest, EachTenantHasItsOwnStatement) {
  DecisionCache cache;
  auto alice = second(cache, kAlice, "SELECT name FROM customers WHERE id = 1",
                      "SELECT name FROM customers WHERE id = 2");
  auto bob = second(cache, kBob, "SELECT name FROM customers WHERE id = 1",
                    "SELECT name FROM customers WHERE id = 2");
  ASSERT_TRUE(alice->prepared);
  ASSERT_TRUE(bob->prepared);
  EXPECT_NE(alice->prepared->name, bob->prepared->name);
  EXPECT_NE(bob->prepared->sql.find("'globex'"), std::string::npos);
  EXPECT_EQ(bob->prepared->sql.find("'acme'"), std::string::npos);
}

TEST(PreparedFormTest, StringsBesideAColumnAreUntypedParameters) {
  DecisionCache cache;
  auto d = second(cache, kAlice, "SELECT id FROM customers WHERE name = 'a' AND id IN (1, 2)",
                  "SELECT id FROM customers WHERE name = 'it''s' AND id IN (3, 4)");
  ASSERT_TRUE(d->prepared);
  EXPECT_EQ(d->prepared->param_types, (std::vector<std::int32_t>{0, 23, 23}));
  EXPECT_EQ(d->parameters, (std::vector<std::string>{"it's", "3", "4"}));
  auto between = second(cache, kAlice, "SELECT id FROM customers WHERE id BETWEEN 1 AND 5",
                        "SELECT id FROM customers WHERE id BETWEEN 6 AND 9");
  ASSERT_TRUE(between->prepared);
  EXPECT_EQ(between->parameters, (std::vector<std::string>{"6", "9"}));
}

TEST(PreparedFormTest, LiteralsOutsideValuePositionsKeepTheStatementPlain) {
  // Each would mean something else, or plan differently, as a parameter.
  const std::vector<std::pair<std::string, std::string>> plain = {
      {"SELECT id, name FROM customers ORDER BY 1", "SELECT id, name FROM customers ORDER BY 2"},
      {"SELECT id FROM customers GROUP BY 1", "SELECT id FROM customers GROUP BY 2"},
      {"SELECT id FROM customers LIMIT 5", "SELECT id FROM customers LIMIT 6"},
      {"SELECT id FROM customers WHERE id = 1 ORDER BY 1",
       "SELECT id FROM customers WHERE id = 2 ORDER BY 1"},
      {"SELECT name::varchar(5) FROM customers WHERE id = 1",
       "SELECT name::varchar(6) FROM customers WHERE id = 1"},
      {"SELECT id FROM customers WHERE id = -1", "SELECT id FROM customers WHERE id = -2"},
      {"SELECT id + 1 FROM customers WHERE id = 1", "SELECT id + 2 FROM customers WHERE id = 1"},
      // A string with no column beside it would be typed from another context.
      {"SELECT id FROM customers WHERE 'a' = 'a'", "SELECT id FROM customers WHERE 'b' = 'b'"},
      {"SELECT id FROM customers WHERE name || 'x' = 'y'",
       "SELECT id FROM customers WHERE name || 'z' = 'w'"},
      {"SELECT id FROM customers WHERE name LIKE 'a%'",
       "SELECT id FROM customers WHERE name LIKE 'b%'"},
  };
  for (const auto& [first, sql] : plain) {
    DecisionCache cache;
    auto d = second(cache, kAlice, first, sql);
    EXPECT_EQ(cache.hits(), 1u) << sql << ": not decided through the shape";
    EXPECT_FALSE(d->prepared) << sql << "\n  as " << d->prepared->sql;
  }
}

TEST(PreparedFormTest, OnlyPlainReadsAndWritesAreShaped) {
  DecisionCache cache;
  auto d = second(cache, kAlice, "SET statement_timeout = 5", "SET statement_timeout = 6");
  EXPECT_FALSE(d->prepared);
}

}  // namespace
}  // namespace tenantwall::policy
