// EXPLAIN ANALYZE decisions that the rewrite case files cannot express: the simple-protocol-only
// check the proxy applies at Parse, and shared datasets (which conf/policy.yaml does not have).
// The rewrites and refusals themselves are cases in rewrite_cases/13_explain.txt.
#include <gtest/gtest.h>

#include <string>

#include "policy/engine.h"
#include "policy/loader.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

const Policy& confPolicy() {
  static const auto policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
  return *policy;
}

const Principal kAlice{.tenant = "acme", .user = "alice", .role = "analyst"};

TEST(ExplainAnalyzeTest, OnlyTheSimpleQueryProtocolMayCarryIt) {
  const Decision analyzed = decide(kAlice, "EXPLAIN ANALYZE SELECT * FROM orders", confPolicy());
  ASSERT_TRUE(analyzed) << analyzed.error().message;
  ASSERT_TRUE(analyzed->render_plan.has_value());
  const auto refusal = checkExtendedProtocol(*analyzed);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->sqlstate, protocol::sqlstate::kFeatureNotSupported);
  EXPECT_EQ(refusal->message,
            "EXPLAIN ANALYZE is supported through the simple query protocol only under "
            "tenantwall");
  EXPECT_NE(refusal->hint.find("simple query"), std::string::npos);

  for (const char* sql : {"EXPLAIN SELECT * FROM orders", "SELECT * FROM orders",
                          "EXPLAIN (ANALYZE false) SELECT 1"}) {
    const Decision plain = decide(kAlice, sql, confPolicy());
    ASSERT_TRUE(plain) << sql << ": " << plain.error().message;
    EXPECT_FALSE(plain->render_plan.has_value()) << sql;
    EXPECT_FALSE(checkExtendedProtocol(*plain).has_value()) << sql;
  }
}

TEST(ExplainAnalyzeTest, TheClientsFormatIsTheRenderedOne) {
  const Decision text = decide(kAlice, "EXPLAIN (ANALYZE, FORMAT TEXT) SELECT 1", confPolicy());
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(text->render_plan, PlanFormat::kText);
  const Decision json = decide(kAlice, "explain (format json, analyze on) select 1", confPolicy());
  ASSERT_TRUE(json) << json.error().message;
  EXPECT_EQ(json->render_plan, PlanFormat::kJson);
  // PostgreSQL always gets FORMAT json, whatever the client asked for.
  EXPECT_EQ(text->sql,
            "EXPLAIN (ANALYZE, FORMAT json, COSTS FALSE, TIMING FALSE, SUMMARY FALSE, BUFFERS "
            "FALSE) SELECT 1");
  EXPECT_EQ(json->sql, text->sql);
}

const std::string kSharedPolicy = R"(
tenants: [{id: acme}, {id: globex}, {id: initech}, {id: hooli}]
protected_tables:
  - table: public.customers
    tenant_column: tenant_id
    columns: [id, tenant_id, name]
shared_datasets:
  - table: public.vendor_spend
    tenant_column: tenant_id
    opt_in: [acme, initech, hooli]
    dimensions: [vendor, month]
    measures:
      - { column: amount, aggregates: [sum, avg] }
    min_tenants: 3
    min_rows: 4
)";

TEST(ExplainAnalyzeTest, SharedDatasetAggregatesAreNotAnalyzed) {
  // Its scans count the rows of every opted-in tenant before the k-anonymity HAVING.
  static const auto policy = loadPolicyText(kSharedPolicy, "p.yaml");
  const Principal principal{.tenant = "acme", .user = "u", .role = "viewer"};
  const std::string query = "SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor";
  ASSERT_TRUE(decide(principal, "EXPLAIN " + query, *policy));
  const Decision analyzed = decide(principal, "EXPLAIN ANALYZE " + query, *policy);
  ASSERT_FALSE(analyzed);
  EXPECT_EQ(analyzed.error().sqlstate, protocol::sqlstate::kInsufficientPrivilege);
  EXPECT_EQ(analyzed.error().message,
            "EXPLAIN ANALYZE of a shared dataset query is not allowed by the tenantwall policy");
  // The protected tables of the same policy are analysed as usual.
  const Decision fenced = decide(principal, "EXPLAIN ANALYZE SELECT name FROM customers", *policy);
  ASSERT_TRUE(fenced) << fenced.error().message;
  EXPECT_EQ(fenced->render_plan, PlanFormat::kText);
}

}  // namespace
}  // namespace tenantwall::policy
