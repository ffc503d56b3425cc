// Which allowed statements leave state in the database session past their transaction
// (Allowed::session_state): pool.mode transaction keeps such a client's backend to itself.
#include <gtest/gtest.h>

#include "policy/engine.h"
#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const Principal kAlice{"acme", "alice", "analyst", {}, {}};

bool leavesSessionState(const char* sql) {
  static const auto policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", 1);
  const Decision decision = decide(kAlice, sql, *policy);
  EXPECT_TRUE(decision.has_value()) << sql << ": " << decision.error().message;
  return decision && decision->session_state;
}

TEST(SessionStateTest, SessionSettingsPreparedStatementsAndHeldCursorsOutliveATransaction) {
  EXPECT_TRUE(leavesSessionState("SET statement_timeout = 5000"));
  EXPECT_TRUE(leavesSessionState("SET SESSION application_name = 'x'"));
  EXPECT_TRUE(leavesSessionState("RESET statement_timeout"));
  EXPECT_TRUE(leavesSessionState("PREPARE p AS SELECT name FROM customers"));
  EXPECT_TRUE(leavesSessionState("DECLARE c CURSOR WITH HOLD FOR SELECT name FROM customers"));
  EXPECT_TRUE(leavesSessionState("SELECT 1; SET lock_timeout = 100"));
}

TEST(SessionStateTest, TransactionScopedStatementsDoNot) {
  EXPECT_FALSE(leavesSessionState("SELECT name FROM customers"));
  EXPECT_FALSE(leavesSessionState("SET LOCAL statement_timeout = 5000"));
  EXPECT_FALSE(leavesSessionState("BEGIN"));
  EXPECT_FALSE(leavesSessionState("DECLARE c CURSOR FOR SELECT name FROM customers"));
  EXPECT_FALSE(leavesSessionState("SHOW statement_timeout"));
  EXPECT_FALSE(leavesSessionState("DEALLOCATE ALL"));
  EXPECT_FALSE(leavesSessionState("COMMIT"));
}

// The SQL-level prepared statements a string names, in order, for the proxy to follow them
// across policy reloads (proxy/sql_prepared.h).
TEST(SessionStateTest, PreparedStatementNamesAreListedInOrder) {
  static const auto policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml", 1);
  const Decision decision =
      decide(kAlice,
             "PREPARE a AS SELECT name FROM customers; EXECUTE a; DEALLOCATE a; PREPARE \"B\" AS "
             "SELECT 1; EXPLAIN EXECUTE \"B\"; DEALLOCATE ALL; EXECUTE c(1)",
             *policy);
  ASSERT_TRUE(decision.has_value()) << decision.error().message;
  EXPECT_EQ(decision->prepared_names, (std::vector<std::string>{"a", "B"}));
  EXPECT_EQ(decision->executed_names, (std::vector<std::string>{"a", "B", "c"}));
  EXPECT_EQ(decision->deallocated_names, (std::vector<std::string>{"a", ""}));
  const Decision plain = decide(kAlice, "SELECT name FROM customers", *policy);
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->prepared_names.empty() && plain->executed_names.empty() &&
              plain->deallocated_names.empty());
}

}  // namespace
}  // namespace tenantwall::policy
