#include "policy/column_facts.h"

#include <gtest/gtest.h>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

std::shared_ptr<const Policy> samplePolicy() {
  return loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
}

TEST(ColumnFacts, AnnotatesExactlyTheNamedColumnsUnderTheNewVersion) {
  const auto policy = samplePolicy();
  ColumnFacts facts;
  facts.leakproof_equality = {"public.customers.id", "public.orders.status", "public.nope.id"};
  const auto annotated = annotateColumns(*policy, facts, policy->version + 7);
  EXPECT_EQ(annotated->version, policy->version + 7);
  EXPECT_EQ(annotated->hash, policy->hash);
  int flagged = 0;
  for (const auto& [key, table] : annotated->protected_tables) {
    for (const ColumnRule& column : table.columns) {
      const std::string name = table.schema + "." + table.name + "." + column.name;
      EXPECT_EQ(column.leakproof_equality, facts.leakproof_equality.contains(name)) << name;
      flagged += column.leakproof_equality;
    }
  }
  EXPECT_EQ(flagged, 2);
  // The original snapshot is untouched: statements running on it keep their view.
  for (const auto& [key, table] : policy->protected_tables)
    for (const ColumnRule& column : table.columns) EXPECT_FALSE(column.leakproof_equality);
}

TEST(ColumnFacts, EmptyFactsClearEveryFlag) {
  const auto policy = samplePolicy();
  ColumnFacts all;
  for (const auto& [key, table] : policy->protected_tables)
    for (const ColumnRule& column : table.columns)
      all.leakproof_equality.insert(table.schema + "." + table.name + "." + column.name);
  const auto on = annotateColumns(*policy, all, 2);
  const auto off = annotateColumns(*on, ColumnFacts{}, 3);
  for (const auto& [key, table] : off->protected_tables)
    for (const ColumnRule& column : table.columns) EXPECT_FALSE(column.leakproof_equality);
}

}  // namespace
}  // namespace tenantwall::policy
