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

using Row = std::vector<std::optional<std::string>>;

TEST(ColumnFacts, UniqueKeyRowsGroupByIndexAndSplitPlainFromExpressionColumns) {
  ColumnFacts facts;
  EXPECT_TRUE(
      addUniqueKeyRow(facts, Row{"public", "customers", "101", "customers_pkey", "id", "t"}));
  EXPECT_TRUE(addUniqueKeyRow(
      facts, Row{"public", "customers", "102", "customers_email_key", "tenant_id", "t"}));
  EXPECT_TRUE(addUniqueKeyRow(
      facts, Row{"public", "customers", "102", "customers_email_key", "email", "f"}));
  EXPECT_TRUE(addUniqueKeyRow(
      facts, Row{"public", "customers", "102", "customers_email_key", "email", "f"}));
  EXPECT_TRUE(addUniqueKeyRow(
      facts, Row{"public", "customers", "103", "customers_lower_idx", "name", "f"}));
  const std::vector<UniqueKey> expected = {
      UniqueKey{.id = "101", .name = "customers_pkey", .columns = {"id"}},
      UniqueKey{.id = "102",
                .name = "customers_email_key",
                .columns = {"tenant_id"},
                .expression_columns = {"email"}},
      UniqueKey{.id = "103", .name = "customers_lower_idx", .expression_columns = {"name"}}};
  EXPECT_EQ(facts.unique_keys["public.customers"], expected);
  EXPECT_EQ(facts.unique_keys.size(), 1u);
}

TEST(ColumnFacts, UniqueKeyRowsOfAnotherShapeAreRejected) {
  ColumnFacts facts;
  EXPECT_FALSE(addUniqueKeyRow(facts, Row{"public", "customers", "101", "customers_pkey", "id"}));
  EXPECT_FALSE(addUniqueKeyRow(
      facts, Row{"public", "customers", "101", "customers_pkey", std::nullopt, "t"}));
  EXPECT_FALSE(
      addUniqueKeyRow(facts, Row{"public", "customers", "101", "customers_pkey", "id", "yes"}));
  EXPECT_TRUE(facts.unique_keys.empty());
  EXPECT_FALSE(addInheritedRow(facts, Row{"public", "customers", "x"}));
  EXPECT_FALSE(addInheritedRow(facts, Row{"public", std::nullopt}));
  EXPECT_TRUE(addInheritedRow(facts, Row{"public", "customers"}));
  EXPECT_EQ(facts.inherited, std::set<std::string>{"public.customers"});
  // The other facts queries' rows are not unique key rows, nor the reverse.
  EXPECT_FALSE(addUniqueKeyRow(facts, Row{"public", "customers", "id"}));
  EXPECT_FALSE(
      addForeignKeyRow(facts, Row{"public", "customers", "101", "customers_pkey", "id", "t"}));
}

TEST(ColumnFacts, OnlyKeysWithoutTheTenantColumnAreGlobalAndChildrenAreMarked) {
  const auto policy = samplePolicy();
  ColumnFacts facts;
  facts.foreign_keys_read = true;
  facts.unique_keys["public.customers"] = {
      UniqueKey{.id = "1", .name = "customers_pkey", .columns = {"id"}},
      UniqueKey{.id = "2", .name = "per_tenant", .columns = {"tenant_id", "name"}},
      // The tenant column read only by an expression does not make a key per tenant.
      UniqueKey{.id = "3", .name = "by_expression", .expression_columns = {"tenant_id", "email"}}};
  facts.unique_keys["public.tenants"] = {
      UniqueKey{.id = "4", .name = "tenants_pkey", .columns = {"id"}}};
  facts.inherited = {"public.customers", "public.not_in_policy"};
  const auto annotated = annotateColumns(*policy, facts, 2);
  const ProtectedTable* customers = annotated->findProtected("public", "customers");
  ASSERT_NE(customers, nullptr);
  ASSERT_EQ(customers->global_unique_keys.size(), 2u);
  EXPECT_EQ(customers->global_unique_keys[0].name, "customers_pkey");
  EXPECT_EQ(customers->global_unique_keys[1].name, "by_expression");
  EXPECT_TRUE(customers->has_children);
  const ProtectedTable* tenants = annotated->findProtected("public", "tenants");
  ASSERT_NE(tenants, nullptr);
  EXPECT_TRUE(tenants->global_unique_keys.empty());  // its tenant column is id
  EXPECT_FALSE(tenants->has_children);
  EXPECT_FALSE(annotated->foreign_keys_pending);
  // Facts read again without them clear them.
  const auto cleared = annotateColumns(*annotated, ColumnFacts{.foreign_keys_read = true}, 3);
  EXPECT_TRUE(cleared->findProtected("public", "customers")->global_unique_keys.empty());
  EXPECT_FALSE(cleared->findProtected("public", "customers")->has_children);
}

}  // namespace
}  // namespace tenantwall::policy
