// The secured catalog templates: every catalog relation and guarded function tenants may use
// has a template that parses, so none is silently refused at run time.
#include "policy/sql/catalog_rewriter.h"

#include <gtest/gtest.h>

#include "policy/loader.h"
#include "policy/sql/parser.h"

namespace tenantwall::policy::sql {
namespace {

const Policy& testPolicy() {
  static const std::shared_ptr<const Policy> policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
  return *policy;
}

pg_query::RangeVar relation(const std::string& schema, const std::string& name) {
  pg_query::RangeVar out;
  out.set_schemaname(schema);
  out.set_relname(name);
  out.set_inh(true);
  out.set_relpersistence("p");
  return out;
}

TEST(CatalogRewriter, EverySecuredCatalogHasAFence) {
  const std::pair<const char*, const char*> catalogs[] = {
      {"pg_catalog", "pg_namespace"},
      {"pg_catalog", "pg_class"},
      {"pg_catalog", "pg_attribute"},
      {"pg_catalog", "pg_attrdef"},
      {"pg_catalog", "pg_index"},
      {"pg_catalog", "pg_constraint"},
      {"pg_catalog", "pg_type"},
      {"pg_catalog", "pg_description"},
      {"pg_catalog", "pg_inherits"},
      {"pg_catalog", "pg_database"},
      {"pg_catalog", "pg_am"},
      {"pg_catalog", "pg_collation"},
      {"pg_catalog", "pg_sequence"},
      {"pg_catalog", "pg_policy"},
      {"pg_catalog", "pg_roles"},
      {"pg_catalog", "pg_trigger"},
      {"information_schema", "tables"},
      {"information_schema", "columns"},
      {"information_schema", "schemata"},
      {"information_schema", "table_constraints"},
      {"information_schema", "key_column_usage"},
      {"information_schema", "referential_constraints"},
      {"information_schema", "views"},
  };
  for (const auto& [schema, name] : catalogs) {
    const CatalogRelation* catalog = findCatalogRelation(schema, name);
    ASSERT_NE(catalog, nullptr) << schema << "." << name;
    auto fence = catalogFence(*catalog, relation(schema, name), testPolicy());
    ASSERT_TRUE(fence.has_value()) << name << ": " << fence.error().message;
    EXPECT_TRUE(fence->has_range_subselect() || fence->has_range_var()) << name;
  }
}

TEST(CatalogRewriter, UnqualifiedNamesMeanPgCatalogOnly) {
  EXPECT_NE(findCatalogRelation("", "pg_class"), nullptr);
  EXPECT_EQ(findCatalogRelation("", "tables"), nullptr);  // information_schema needs its name
  EXPECT_EQ(findCatalogRelation("public", "pg_class"), nullptr);
}

TEST(CatalogRewriter, StatisticsActivityAndRolesAreNotSecuredCatalogs) {
  for (const char* name :
       {"pg_stats", "pg_statistic", "pg_stat_activity", "pg_locks", "pg_authid", "pg_shadow",
        "pg_user_mappings", "pg_hba_file_rules", "pg_file_settings"}) {
    // pg_settings (four compile-time limits) and pg_proc (empty) are secured: see
    // rewrite_cases/15_catalogs.txt and 20_parameters_catalog_functions.txt.
    EXPECT_EQ(findCatalogRelation("pg_catalog", name), nullptr) << name;
  }
}

TEST(CatalogRewriter, EveryGuardedFunctionHasAGuard) {
  for (const char* call :
       {"pg_get_indexdef(1)", "pg_get_constraintdef(1)", "pg_get_expr(NULL, 1)",
        "format_type(1, 1)", "col_description(1, 1)", "obj_description(1)", "pg_get_userbyid(1)",
        "pg_get_serial_sequence('a', 'b')", "pg_get_triggerdef(1)",
        "pg_get_statisticsobjdef_columns(1)", "pg_get_viewdef(1)", "pg_get_ruledef(1)",
        "pg_get_function_result(1)", "pg_get_function_arguments(1)",
        "pg_get_function_identity_arguments(1)", "pg_function_is_visible(1)",
        "has_table_privilege(1, 'SELECT')", "has_any_column_privilege(1, 'SELECT')",
        "has_column_privilege(1, 'a', 'SELECT')"}) {
    auto tree = parse(std::string("SELECT ") + call);
    ASSERT_TRUE(tree.has_value()) << call;
    const auto& value = tree->stmts(0).stmt().select_stmt().target_list(0).res_target().val();
    ASSERT_TRUE(isGuardedCatalogCall(value.func_call())) << call;
    auto guard = guardCatalogCall(value, testPolicy());
    ASSERT_TRUE(guard.has_value()) << call;
    ASSERT_TRUE(guard->has_value()) << call << ": " << (*guard).error().message;
    EXPECT_TRUE((*guard)->has_case_expr()) << call;
  }
}

TEST(CatalogRewriter, AGuardNeedsItsArguments) {
  auto tree = parse("SELECT col_description(1)");
  ASSERT_TRUE(tree.has_value());
  const auto& value = tree->stmts(0).stmt().select_stmt().target_list(0).res_target().val();
  auto guard = guardCatalogCall(value, testPolicy());
  ASSERT_TRUE(guard.has_value());
  EXPECT_FALSE(guard->has_value());
}

TEST(CatalogRewriter, OtherFunctionsAreNotGuarded) {
  auto tree = parse("SELECT lower('x')");
  ASSERT_TRUE(tree.has_value());
  const auto& value = tree->stmts(0).stmt().select_stmt().target_list(0).res_target().val();
  EXPECT_FALSE(guardCatalogCall(value, testPolicy()).has_value());
}

}  // namespace
}  // namespace tenantwall::policy::sql
