// k-anonymous aggregates over a shared dataset: the exact rewrite, every refusal (42501) and the
// `shared_datasets:` loader's checks.
#include "policy/sql/shared_aggregate.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/engine.h"
#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const std::string kPolicy = R"(
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

Principal principal(const std::string& tenant) { return Principal{tenant, "u", "viewer", {}, {}}; }

Decision run(const std::string& sql, const std::string& tenant = "acme") {
  static const auto policy = loadPolicyText(kPolicy, "p.yaml");
  return decide(principal(tenant), sql, *policy);
}

std::string loadError(const std::string& yaml) {
  try {
    loadPolicyText(yaml, "p.yaml");
  } catch (const PolicyLoadError& e) {
    return e.what();
  }
  return "loaded without error";
}

TEST(SharedAggregateTest, RewritesToTheFencedCellsAndHaving) {
  auto decision = run(
      "SELECT vendor, sum(amount) AS total FROM vendor_spend v WHERE v.month = '2026-01' GROUP BY "
      "vendor ORDER BY total DESC LIMIT 3");
  ASSERT_TRUE(decision) << decision.error().message;
  EXPECT_EQ(decision->sql,
            "SELECT vendor, pg_catalog.sum(amount) AS total FROM (SELECT vendor, month, amount, "
            "tenant_id AS tenantwall_tenant FROM public.vendor_spend WHERE tenant_id IN ('acme', "
            "'initech', 'hooli') AND (vendor, month) IN (SELECT vendor, month FROM "
            "public.vendor_spend WHERE tenant_id IN ('acme', 'initech', 'hooli') GROUP BY vendor, "
            "month HAVING pg_catalog.count(DISTINCT tenant_id) OPERATOR(pg_catalog.>=) 3 AND "
            "pg_catalog.count(*) OPERATOR(pg_catalog.>=) 4) OFFSET 0) v WHERE v.month "
            "OPERATOR(pg_catalog.=) '2026-01' GROUP BY vendor HAVING pg_catalog.count(DISTINCT "
            "tenantwall_tenant) OPERATOR(pg_catalog.>=) 3 AND pg_catalog.count(*) "
            "OPERATOR(pg_catalog.>=) 4 ORDER BY total DESC LIMIT 3");
  EXPECT_EQ(decision->relations, std::vector<std::string>{"public.vendor_spend"});
  EXPECT_EQ(decision->statement_kinds, std::vector<std::string>{"SELECT"});
}

TEST(SharedAggregateTest, AcceptsTheAllowedShapes) {
  for (const char* sql : {
           "SELECT count(*) FROM vendor_spend",
           "SELECT vendor, month, avg(amount), count(*) FROM public.vendor_spend GROUP BY 1, 2",
           "SELECT vendor FROM vendor_spend GROUP BY vendor",
           "SELECT vendor, count(month) FROM vendor_spend WHERE vendor IN ('a', 'b') AND month "
           "BETWEEN '1' AND '2' OR vendor LIKE 'x%' GROUP BY vendor ORDER BY 2",
           "SELECT vendor, sum(amount) FROM vendor_spend WHERE vendor = $1 GROUP BY vendor",
           "EXPLAIN SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor",
       }) {
    auto decision = run(sql);
    EXPECT_TRUE(decision) << sql << ": " << decision.error().message;
  }
}

TEST(SharedAggregateTest, RefusesEverythingElse) {
  const std::pair<const char*, const char*> cases[] = {
      {"SELECT * FROM vendor_spend", "raw rows"},
      {"SELECT vendor, amount FROM vendor_spend", "is an amount"},
      {"SELECT vendor FROM vendor_spend", "raw rows"},
      {"SELECT invoice, count(*) FROM vendor_spend GROUP BY invoice", "is not shared"},
      {"SELECT tenant_id, count(*) FROM vendor_spend GROUP BY tenant_id", "tenant column"},
      {"SELECT count(*) FROM vendor_spend WHERE tenant_id = 'hooli'", "tenant column"},
      {"SELECT count(*) FROM vendor_spend WHERE amount > 10", "is an amount"},
      {"SELECT count(*) FROM vendor_spend WHERE lower(vendor) = 'a'", "constants"},
      {"SELECT count(*) FROM vendor_spend WHERE month = amount", "is an amount"},
      {"SELECT max(amount) FROM vendor_spend", "function max is not allowed"},
      {"SELECT count(amount) FROM vendor_spend", "count of amount is not allowed"},
      {"SELECT sum(DISTINCT amount) FROM vendor_spend", "DISTINCT"},
      {"SELECT sum(amount) OVER () FROM vendor_spend", "DISTINCT, FILTER"},
      {"SELECT sum(vendor) FROM vendor_spend", "only count"},
      {"SELECT vendor, sum(amount) FROM vendor_spend GROUP BY ROLLUP (vendor)", "GROUP BY"},
      {"SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor HAVING count(*) > 1",
       "HAVING"},
      {"SELECT count(*) FROM vendor_spend, customers", "alone"},
      {"SELECT count(*) FROM customers WHERE id IN (SELECT 1 FROM vendor_spend)", "alone"},
      {"WITH s AS (SELECT 1) SELECT count(*) FROM vendor_spend", "WITH"},
      {"SELECT count(*) FROM vendor_spend UNION SELECT count(*) FROM vendor_spend", "alone"},
      {"DELETE FROM vendor_spend", "can only be read"},
      {"SELECT count(*) FROM vendor_spend v(a, b)", "column aliases"},
      {"SELECT x.vendor, count(*) FROM vendor_spend GROUP BY 1", "not a column"},
  };
  for (const auto& [sql, fragment] : cases) {
    auto decision = run(sql);
    ASSERT_FALSE(decision) << sql;
    EXPECT_EQ(decision.error().sqlstate, "42501") << sql;
    EXPECT_NE(decision.error().message.find(fragment), std::string::npos)
        << sql << ": " << decision.error().message;
  }
}

TEST(SharedAggregateTest, TenantsThatDidNotOptInAreRefused) {
  auto decision = run("SELECT count(*) FROM vendor_spend", "globex");
  ASSERT_FALSE(decision);
  EXPECT_EQ(decision.error().sqlstate, "42501");
  EXPECT_EQ(decision.error().message,
            "tenant 'globex' has not opted in to shared dataset public.vendor_spend");
}

TEST(SharedAggregateTest, OtherStatementsAreUntouched) {
  auto decision = run("SELECT name FROM customers");
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->relations, std::vector<std::string>{"public.customers"});
}

TEST(SharedAggregateTest, LoaderChecks) {
  const std::string head = "tenants: [{id: a}, {id: b}]\nshared_datasets:\n  - table: public.s\n";
  EXPECT_EQ(loadError(head + "    tenant_column: t\n    opt_in: [a, z]\n    dimensions: [d]\n"
                             "    measures: [{column: m, aggregates: [sum]}]\n"),
            "p.yaml:5:13: shared dataset public.s: opt_in names unknown tenant 'z'");
  EXPECT_NE(loadError(head + "    tenant_column: t\n    opt_in: [a]\n    dimensions: [d]\n"
                             "    measures: [{column: m, aggregates: [max]}]\n")
                .find("min and max are one row's value"),
            std::string::npos);
  EXPECT_NE(loadError(head + "    tenant_column: t\n    opt_in: [a]\n    dimensions: [t]\n"
                             "    measures: [{column: m, aggregates: [sum]}]\n")
                .find("the tenant column cannot be a dimension"),
            std::string::npos);
  EXPECT_NE(loadError(head + "    tenant_column: t\n    opt_in: [a]\n    dimensions: [d]\n"
                             "    measures: [{column: m, aggregates: [sum]}]\n    min_tenants: 1\n")
                .find("min_tenants must be between 2"),
            std::string::npos);
  EXPECT_NE(loadError(head + "    tenant_column: t\n    opt_in: [a]\n    dimensions: [d]\n"
                             "    measures: [{column: m, aggregates: [sum]}]\n    colour: red\n")
                .find("unknown key 'colour'"),
            std::string::npos);
  auto policy = loadPolicyText(head +
                                   "    tenant_column: t\n    opt_in: [a]\n    dimensions: [d]\n"
                                   "    measures: [{column: m, aggregates: [sum]}]\n    "
                                   "min_tenants: 5\n    min_rows: 2\n",
                               "p.yaml");
  const SharedDataset* set = policy->findShared("public", "s");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->min_tenants, 5);
  EXPECT_EQ(set->min_rows, 5);  // never fewer rows than tenants
}

}  // namespace
}  // namespace tenantwall::policy
