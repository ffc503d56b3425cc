// Tests of the mask templates: exact expressions, NULL-preserving shapes, and their use in
// the fence for every mask kind.
#include "policy/sql/masks.h"

#include <gtest/gtest.h>

#include "policy/engine.h"
#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"

namespace tenantwall::policy::sql {
namespace {

// Deparses `SELECT <expression>`.
std::string asSql(const pg_query::Node& expression) {
  pg_query::ParseResult tree;
  tree.set_version(parse("SELECT 1")->version());  // as the parser stamps it
  auto* select = tree.add_stmts()->mutable_stmt()->mutable_select_stmt();
  select->set_op(pg_query::SETOP_NONE);
  select->set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
  *select->add_target_list()->mutable_res_target()->mutable_val() = expression;
  auto text = deparseVerified(tree);
  return text ? *text : "error: " + text.error().message;
}

std::string masked(MaskKind kind) {
  auto expression = maskExpression(kind, columnRef({"public", "t", "c"}));
  return expression ? asSql(*expression) : "error: " + expression.error().message;
}

TEST(Masks, Email) {
  EXPECT_EQ(masked(MaskKind::kEmail),
            "SELECT (pg_catalog.\"left\"(public.t.c::pg_catalog.text, 1) "
            "OPERATOR(pg_catalog.||) '***@') OPERATOR(pg_catalog.||) "
            "pg_catalog.split_part(public.t.c::pg_catalog.text, '@', 2)");
}

TEST(Masks, Phone) {
  EXPECT_EQ(masked(MaskKind::kPhone),
            "SELECT '***-***-' OPERATOR(pg_catalog.||) "
            "pg_catalog.\"right\"(public.t.c::pg_catalog.text, 4)");
}

TEST(Masks, Ssn) {
  EXPECT_EQ(masked(MaskKind::kSsn),
            "SELECT '***-**-' OPERATOR(pg_catalog.||) "
            "pg_catalog.\"right\"(public.t.c::pg_catalog.text, 4)");
}

TEST(Masks, RedactKeepsNull) {
  EXPECT_EQ(masked(MaskKind::kRedact),
            "SELECT CASE WHEN public.t.c IS NULL THEN NULL ELSE '***' END");
}

TEST(Masks, Hash) {
  EXPECT_EQ(masked(MaskKind::kHash),
            "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
            "public.t.c::pg_catalog.text, 'UTF8')), 'hex')");
}

TEST(Masks, SubstitutesEveryPlaceholderAndLeavesTheTemplateIntact) {
  auto first = maskExpression(MaskKind::kEmail, columnRef({"a"}));
  auto second = maskExpression(MaskKind::kEmail, columnRef({"b"}));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(asSql(*first).find("tenantwall_masked_column"), std::string::npos);
  EXPECT_NE(asSql(*second).find("split_part(b::"), std::string::npos);
  EXPECT_EQ(asSql(*second).find("a::"), std::string::npos);
}

// Every mask kind inside the fence, on a policy written here rather than conf/policy.yaml.
TEST(Masks, AllKindsInsideTheFence) {
  Policy policy;
  policy.roles = defaultRoles();
  policy.tenants = {{"t1", "Tenant One"}};
  policy.protected_tables.emplace(
      "app.people",
      ProtectedTable{"app",
                     "people",
                     "org",
                     {{"org", {}}, {"secret", MaskKind::kRedact}, {"token", MaskKind::kHash}}});
  auto decision =
      decide(Principal{.tenant = "t1", .role = "viewer"}, "SELECT * FROM app.people p", policy);
  ASSERT_TRUE(decision.has_value()) << decision.error().message;
  EXPECT_EQ(decision->sql,
            "SELECT * FROM (SELECT app.people.org, CASE WHEN app.people.secret IS NULL THEN "
            "NULL ELSE '***' END AS secret, pg_catalog.encode(pg_catalog.sha256("
            "pg_catalog.convert_to(app.people.token::pg_catalog.text, 'UTF8')), 'hex') AS token "
            "FROM app.people WHERE app.people.org OPERATOR(pg_catalog.=) 't1' OFFSET 0) p");
}

TEST(Masks, TenantIdIsAConstantNodeEvenWhenItLooksLikeSql) {
  Policy policy;
  policy.roles = defaultRoles();
  const std::string hostile = "x' OR '1'='1";
  policy.tenants = {{hostile, "odd"}};
  policy.protected_tables.emplace("public.t", ProtectedTable{"public", "t", "tid", {{"tid", {}}}});
  auto decision = decide(Principal{.tenant = hostile, .role = "viewer"}, "SELECT * FROM t", policy);
  ASSERT_TRUE(decision.has_value()) << decision.error().message;
  EXPECT_EQ(decision->sql,
            "SELECT * FROM (SELECT public.t.tid FROM public.t WHERE public.t.tid "
            "OPERATOR(pg_catalog.=) 'x'' OR ''1''=''1' OFFSET 0) t");
}

}  // namespace
}  // namespace tenantwall::policy::sql
