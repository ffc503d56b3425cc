// explainDecision: the principal of a user, the decision with its rules, JSON and text.
#include "policy/explain.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const std::string kPolicy =
    "tenants: [{id: acme}]\nusers:\n  - {name: u, tenant: acme, role: viewer, scram: "
    "\"SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
    "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=\"}\nprotected_tables:\n  - table: public.c\n"
    "    tenant_column: t\n    columns: [t, {name: e, mask: email}]\n"
    "reference_tables: [public.r]\n";

TEST(ExplainTest, PrincipalOfAUser) {
  const auto policy = loadPolicyText(kPolicy, "p.yaml");
  auto u = principalFor(*policy, "u");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->tenant, "acme");
  EXPECT_EQ(u->role, "viewer");
  EXPECT_FALSE(principalFor(*policy, "token-user"));
  auto token = principalFor(*policy, "token-user", "acme", "viewer");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->user, "token-user");
  EXPECT_EQ(principalFor(*policy, "u", "nowhere").error(),
            "tenant 'nowhere' is not known to the policy");
}

TEST(ExplainTest, AllowedNamesTheRules) {
  const auto policy = loadPolicyText(kPolicy, "p.yaml");
  const auto e = explainDecision(*principalFor(*policy, "u"), "SELECT * FROM c, r", *policy);
  ASSERT_TRUE(e.allowed);
  EXPECT_EQ(e.relations, (std::vector<std::string>{"public.c", "public.r"}));
  EXPECT_EQ(e.rules, (std::vector<std::string>{
                         "role viewer: its statement kinds, columns and row rules",
                         "protected_tables[public.c]: only rows where t = 'acme'; columns t; "
                         "masked e (email); every other column hidden",
                         "reference_tables[public.r]: shared by every tenant, read-only"}));
  const std::string json = explanationJson(e);
  EXPECT_TRUE(json.starts_with(R"({"decision":"allow","principal":{"user":"u","tenant":"acme",)"
                               R"("role":"viewer"},"sql":"SELECT * FROM c, r","rewritten_sql":)"))
      << json;
  EXPECT_NE(explanationText(e).find("decision:  ALLOW\n"), std::string::npos);
}

TEST(ExplainTest, RefusedCarriesSqlstateAndRule) {
  const auto policy = loadPolicyText(kPolicy, "p.yaml");
  const auto e = explainDecision(*principalFor(*policy, "u"), "SELECT * FROM secret", *policy);
  ASSERT_FALSE(e.allowed);
  EXPECT_EQ(e.error.sqlstate, "42501");
  ASSERT_EQ(e.rules.size(), 1u);
  EXPECT_TRUE(e.rules[0].starts_with("refused: " + e.error.message));
  const std::string json = explanationJson(e);
  EXPECT_NE(json.find(R"("rewritten_sql":null,"statement_kinds":[],"relations":[],)"
                      R"("sqlstate":"42501")"),
            std::string::npos)
      << json;
  EXPECT_NE(explanationText(e).find("sqlstate:  42501\n"), std::string::npos);
}

}  // namespace
}  // namespace tenantwall::policy
