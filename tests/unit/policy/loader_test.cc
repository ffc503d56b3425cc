// Policy loading: the reference policy loads, and every kind of mistake names file:line:column.
#include "policy/loader.h"

#include <gtest/gtest.h>

#include <string>

namespace tenantwall::policy {
namespace {

const std::string kVerifier =
    "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
    "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";

std::string loadError(const std::string& yaml) {
  try {
    loadPolicyText(yaml, "p.yaml");
  } catch (const PolicyLoadError& e) {
    return e.what();
  }
  return "loaded without error";
}

TEST(LoaderTest, ReferencePolicyLoads) {
  auto policy = loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
  ASSERT_EQ(policy->tenants.size(), 2u);
  EXPECT_TRUE(policy->isTenant("acme"));
  EXPECT_TRUE(policy->isTenant("globex"));
  const User* alice = policy->findUser("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->tenant, "acme");
  const ProtectedTable* customers = policy->findProtected("public", "customers");
  ASSERT_NE(customers, nullptr);
  EXPECT_EQ(customers->tenant_column, "tenant_id");
  ASSERT_NE(customers->findColumn("ssn"), nullptr);
  EXPECT_EQ(customers->findColumn("ssn")->mask, MaskKind::kSsn);
  EXPECT_EQ(customers->findColumn("notes"), nullptr);  // hidden
  EXPECT_FALSE(customers->findColumn("name")->mask.has_value());
  EXPECT_TRUE(policy->isReference("public", "countries"));
  EXPECT_FALSE(policy->isReference("public", "internal_audit"));
  EXPECT_EQ(policy->findProtected("public", "internal_audit"), nullptr);
  EXPECT_EQ(policy->hash.size(), 64u);
}

TEST(LoaderTest, HashChangesWithContent) {
  auto a = loadPolicyText("tenants: [{id: a}]\n", "a.yaml");
  auto b = loadPolicyText("tenants: [{id: b}]\n", "b.yaml");
  EXPECT_NE(a->hash, b->hash);
}

TEST(LoaderTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_EQ(loadError("tenants:\n  - id: a\n   bad: [\n"),
            loadError("tenants:\n  - id: a\n   bad: [\n"));  // deterministic
  const std::string e = loadError("tenants:\n  - id: a\n  - [unclosed\n");
  EXPECT_TRUE(e.starts_with("p.yaml:")) << e;
  EXPECT_NE(e.find(":4:"), std::string::npos) << e;
}

TEST(LoaderTest, UnknownTopLevelKeyIsAnError) {
  const std::string e = loadError("tenants: [{id: a}]\nprotected_tabels: []\n");
  EXPECT_EQ(e.rfind("p.yaml:2:1: unknown key 'protected_tabels'", 0), 0u) << e;
}

// Found by fuzz_policy_loader: a complex key escaped as yaml-cpp's conversion exception.
TEST(LoaderTest, SequenceAsTopLevelKeyIsALoadError) {
  const std::string e = loadError("? [a]\n: 1\n");
  EXPECT_EQ(e.rfind("p.yaml:1:", 0), 0u) << e;
}

// Found by fuzz_policy_loader: an alias inside the sequence it names is an endless graph, and
// the walk looking for duplicate keys followed it until the stack overflowed.
TEST(LoaderTest, AliasInsideItsOwnNodeIsALoadError) {
  const std::string e = loadError("tenants:\n  - &t\n    - *t\n");
  EXPECT_EQ(e.rfind("p.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("nested deeper than 64 levels (or an alias inside the node it names)"),
            std::string::npos)
      << e;
  const std::string in_key = loadError("? &k [*k]\n: 1\n");
  EXPECT_NE(in_key.find("nested deeper than 64 levels"), std::string::npos) << in_key;
}

TEST(LoaderTest, DeepNestingIsALoadError) {
  const std::string deep = "tenants: " + std::string(80, '[') + std::string(80, ']') + "\n";
  EXPECT_NE(loadError(deep).find("nested deeper than 64 levels"), std::string::npos);
  // 60 levels is within bounds: whatever the loader says then is not about nesting.
  const std::string fine = "tenants: " + std::string(60, '[') + std::string(60, ']') + "\n";
  EXPECT_EQ(loadError(fine).find("nested deeper"), std::string::npos) << loadError(fine);
}

// Ten levels of ten aliases stand for 10^10 nodes: refused after a million, not walked.
TEST(LoaderTest, AliasesExpandingPastAMillionNodesAreALoadError) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 10; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += (j ? ", " : "") + prev;
    yaml += "]\n";
  }
  const std::string e = loadError(yaml);
  EXPECT_NE(e.find("more than 1000000 nodes once its aliases are expanded"), std::string::npos)
      << e;
}

TEST(LoaderTest, DuplicateKeyIsAnError) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - table: public.t\n    tenant_column: tenant_id\n"
      "    columns: [{name: email, mask: email, mask: none}]\n");
  EXPECT_EQ(e.rfind("p.yaml:5:", 0), 0u) << e;
  EXPECT_NE(e.find("key 'mask' appears twice in the same mapping"), std::string::npos) << e;
}

TEST(LoaderTest, UserWithUnknownTenant) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nusers:\n  - name: u\n    tenant: b\n"
      "    role: viewer\n    scram: \"" +
      kVerifier + "\"\n");
  EXPECT_NE(e.find("p.yaml:4:13: user 'u' names unknown tenant 'b'"), std::string::npos) << e;
}

TEST(LoaderTest, UserWithPasswordInsteadOfVerifier) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nusers:\n  - {name: u, tenant: a, role: viewer, scram: hunter2}\n");
  EXPECT_NE(e.find("p.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("tenantwall passwd"), std::string::npos) << e;
}

TEST(LoaderTest, DuplicateUser) {
  const std::string user = "  - {name: u, tenant: a, role: viewer, scram: \"" + kVerifier + "\"}\n";
  const std::string e = loadError("tenants: [{id: a}]\nusers:\n" + user + user);
  EXPECT_NE(e.find("p.yaml:4:5: duplicate user 'u'"), std::string::npos) << e;
}

TEST(LoaderTest, TableMustBeSchemaQualified) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - {table: orders, tenant_column: t, columns: "
      "[t]}\n");
  EXPECT_NE(e.find("p.yaml:3:13: table 'orders' must be schema-qualified"), std::string::npos) << e;
}

TEST(LoaderTest, UnknownMaskKind) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - table: public.t\n    tenant_column: t\n"
      "    columns: [t, {name: c, mask: rot13}]\n");
  EXPECT_NE(e.find("p.yaml:5:34: unknown mask 'rot13'"), std::string::npos) << e;
}

TEST(LoaderTest, TenantColumnCannotBeMasked) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - table: public.t\n    tenant_column: t\n"
      "    columns: [{name: t, mask: hash}]\n");
  EXPECT_NE(e.find("tenant column 't' cannot be masked"), std::string::npos) << e;
}

TEST(LoaderTest, DuplicateColumn) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - {table: public.t, tenant_column: t, "
      "columns: [t, c, c]}\n");
  EXPECT_NE(e.find("duplicate column 'c'"), std::string::npos) << e;
}

TEST(LoaderTest, ProtectedTableCannotBeReference) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nprotected_tables:\n  - {table: public.t, tenant_column: t, "
      "columns: [t]}\nreference_tables: [public.t]\n");
  EXPECT_NE(e.find("p.yaml:4:20: public.t is protected"), std::string::npos) << e;
}

TEST(LoaderTest, MissingFile) {
  EXPECT_THROW(loadPolicyFile("/nonexistent/policy.yaml"), PolicyLoadError);
}

TEST(LoaderTest, EmptyDocumentIsRefused) {
  EXPECT_NE(loadError("").find("must be a mapping"), std::string::npos);
}

}  // namespace
}  // namespace tenantwall::policy
