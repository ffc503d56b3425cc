// policyDiff: who gains or loses access, line by line.
#include "policy/policy_diff.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

const std::string kVerifier =
    "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
    "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";

std::string policy(const std::string& users, const std::string& columns,
                   const std::string& extra = "") {
  return "tenants: [{id: acme}, {id: globex}]\nusers:\n" + users +
         "protected_tables:\n  - table: public.c\n    tenant_column: t\n    columns: " + columns +
         "\n" + extra;
}

std::string user(const std::string& name, const std::string& tenant, const std::string& role) {
  return "  - {name: " + name + ", tenant: " + tenant + ", role: " + role + ", scram: \"" +
         kVerifier + "\"}\n";
}

std::vector<std::string> diff(const std::string& a, const std::string& b) {
  return policyDiff(*loadPolicyText(a, "a.yaml"), *loadPolicyText(b, "b.yaml"));
}

TEST(PolicyDiffTest, SameAccessIsEmpty) {
  const std::string p = policy(user("u", "acme", "viewer"), "[t, x]");
  EXPECT_TRUE(diff(p, p + "author: someone\n").empty());
}

TEST(PolicyDiffTest, UsersTenantsAndReferenceTables) {
  const auto lines = diff(policy(user("u", "acme", "viewer") + user("v", "acme", "viewer"), "[t]"),
                          policy(user("u", "globex", "owner") + user("w", "acme", "viewer"), "[t]",
                                 "reference_tables: [public.r]\n"));
  EXPECT_EQ(lines,
            (std::vector<std::string>{
                "~ user u moves from tenant acme to globex: loses acme's rows, gains "
                "globex's",
                "~ user u: role viewer -> owner",
                "+ user w (tenant acme, role viewer) can log in and gains tenant acme's rows",
                "- user v (tenant acme) can no longer log in",
                "+ reference table public.r: every tenant gains read access to all rows",
            }));
}

TEST(PolicyDiffTest, ColumnsAndMasksPerRole) {
  const auto lines =
      diff(policy(user("u", "acme", "viewer"), "[t, a, {name: e, mask: email}]"),
           policy(user("u", "acme", "viewer"), "[t, {name: e, roles: {viewer: hide}}, n]"));
  // Every default role sees the same change but the viewer, for whom e is hidden.
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "+ column public.c.e: masked (email) -> plain for role owner (gains the raw "
                      "values)"),
            lines.end());
  EXPECT_NE(
      std::find(lines.begin(), lines.end(), "- column public.c.e: role viewer loses it (hidden)"),
      lines.end());
  EXPECT_NE(
      std::find(lines.begin(), lines.end(), "- column public.c.a: role viewer loses it (hidden)"),
      lines.end());
  EXPECT_NE(
      std::find(lines.begin(), lines.end(), "+ column public.c.n: role editor gains it, plain"),
      lines.end());
}

TEST(PolicyDiffTest, SharedDatasets) {
  const std::string set =
      "shared_datasets:\n  - table: public.s\n    tenant_column: t\n    dimensions: [d]\n"
      "    measures: [{column: m, aggregates: [sum]}]\n";
  const std::string u = user("u", "acme", "viewer");
  const auto lines = diff(policy(u, "[t]", set + "    opt_in: [acme]\n    min_tenants: 3\n"),
                          policy(u, "[t]", set + "    opt_in: [globex]\n    min_tenants: 2\n"));
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "+ shared dataset public.s: tenant globex opts in (its rows are pooled; it "
                       "gains the aggregates)",
                       "- shared dataset public.s: tenant acme opts out (its rows leave the pool; "
                       "it loses the aggregates)",
                       "+ shared dataset public.s: threshold k 3 -> 2, min rows 3 -> 3",
                   }));
}

}  // namespace
}  // namespace tenantwall::policy
