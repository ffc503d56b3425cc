// Roles, row rules and per-role column rules (issue 6): loading with file:line:column errors,
// rule templates and their substitution, statement kinds, column views, the live-schema check.
#include "policy/roles.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/column_facts.h"
#include "policy/engine.h"
#include "policy/loader.h"
#include "policy/schema_check.h"
#include "policy/sql/row_rules.h"
#include "protocol/sqlstate.h"

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

// A table with a region column, its rules appended by each test (line 7 on).
const std::string kTable =
    "tenants: [{id: acme}, {id: globex}]\n"         // 1
    "protected_tables:\n"                           // 2
    "  - table: public.p\n"                         // 3
    "    tenant_column: tenant_id\n"                // 4
    "    columns: [id, tenant_id, region, team]\n"  // 5
    "    rules:\n";                                 // 6

std::string ruleError(const std::string& where) {
  return loadError(kTable + "      - where: \"" + where + "\"\n");
}

const Policy& rolesPolicy() {
  static const auto policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/roles_policy.yaml");
  return *policy;
}

Principal principal(std::string role, std::map<std::string, Attribute> attributes = {},
                    std::vector<std::string> groups = {}) {
  return Principal{"acme", "u1", std::move(role), std::move(groups), std::move(attributes)};
}

std::string sqlOf(const Decision& decision) {
  return decision ? decision->sql
                  : "refused " + decision.error().sqlstate + ": " + decision.error().message;
}

// ---- loading ---------------------------------------------------------------------------------

TEST(RolesLoading, DefaultsExistWhenThePolicyDefinesNone) {
  auto policy = loadPolicyText("tenants: [{id: a}]\n", "p.yaml");
  ASSERT_EQ(policy->roles.size(), 4u);
  using enum StatementKind;
  EXPECT_EQ(policy->findRole("viewer")->statements, std::set<StatementKind>{kSelect});
  EXPECT_EQ(policy->findRole("editor")->statements,
            (std::set<StatementKind>{kSelect, kInsert, kUpdate, kDelete, kCopyFrom}));
  EXPECT_FALSE(policy->findRole("editor")->unmask);
  EXPECT_TRUE(policy->findRole("admin")->unmask);
  EXPECT_TRUE(policy->findRole("owner")->unmask);
  EXPECT_EQ(policy->findRole("analyst"), nullptr);
}

TEST(RolesLoading, PolicyRolesAddToAndOverrideTheDefaults) {
  auto policy = loadPolicyText(
      "tenants: [{id: a}]\nroles:\n  viewer: {statements: [select, insert]}\n"
      "  clerk: {statements: [insert], write_masked: true}\n",
      "p.yaml");
  EXPECT_EQ(policy->roles.size(), 5u);
  EXPECT_TRUE(policy->findRole("viewer")->statements.contains(StatementKind::kInsert));
  EXPECT_TRUE(policy->findRole("clerk")->write_masked);
  EXPECT_FALSE(policy->findRole("clerk")->statements.contains(StatementKind::kSelect));
}

TEST(RolesLoading, UserWithAnUndefinedRoleIsRefusedWhereTheRoleIsWritten) {
  const std::string e = loadError(
      "tenants: [{id: a}]\nusers:\n  - name: u\n    tenant: a\n"
      "    role: analyst\n    scram: \"" +
      kVerifier + "\"\n");
  EXPECT_EQ(e,
            "p.yaml:5:11: user 'u' names role 'analyst', which the policy does not define "
            "(defined: admin, editor, owner, viewer)");
}

TEST(RolesLoading, UnknownStatementKindAndKey) {
  EXPECT_EQ(loadError("tenants: [{id: a}]\nroles:\n  r: {statements: [select, drop]}\n"),
            "p.yaml:3:28: unknown statement kind 'drop' (expected select, insert, update, "
            "delete, copy_from)");
  const std::string e =
      loadError("tenants: [{id: a}]\nroles:\n  r: {statements: [], sudo: true}\n");
  EXPECT_EQ(e.rfind("p.yaml:3:23: unknown key 'sudo' in role 'r'", 0), 0u) << e;
  EXPECT_EQ(loadError("tenants: [{id: a}]\nroles:\n  r: {unmask: true}\n"),
            "p.yaml:3:6: role 'r' needs 'statements', like [select, insert, update, delete]");
}

TEST(RolesLoading, UserGroupsAndAttributes) {
  auto policy = loadPolicyText(
      "tenants: [{id: a}]\nusers:\n  - name: u\n    tenant: a\n    role: viewer\n"
      "    scram: \"" +
          kVerifier +
          "\"\n    groups: [g1, g2]\n"
          "    attributes: {region: eu, regions: [eu, us], none: []}\n",
      "p.yaml");
  const Principal p = principalOf(*policy->findUser("u"));
  EXPECT_EQ(p.tenant, "a");
  EXPECT_EQ(p.role, "viewer");
  EXPECT_EQ(p.groups, (std::vector<std::string>{"g1", "g2"}));
  EXPECT_EQ(p.attributes.at("region"), (Attribute{{"eu"}, false}));
  EXPECT_EQ(p.attributes.at("regions"), (Attribute{{"eu", "us"}, true}));
  EXPECT_EQ(p.attributes.at("none"), (Attribute{{}, true}));
  EXPECT_EQ(loadError("tenants: [{id: a}]\nusers:\n  - name: u\n    tenant: a\n"
                      "    role: viewer\n    scram: \"" +
                      kVerifier +
                      "\"\n"
                      "    attributes: {r: {x: 1}}\n"),
            "p.yaml:7:21: attribute 'r' must be a string or a list of strings");
}

TEST(RolesLoading, ColumnRoles) {
  const std::string table =
      "tenants: [{id: a}]\nroles:\n  clerk: {statements: [select]}\nprotected_tables:\n"
      "  - table: public.p\n    tenant_column: t\n    columns:\n      - t\n";
  auto policy = loadPolicyText(
      table + "      - {name: e, mask: email, roles: {admin: allow, viewer: hide, clerk: hash}}\n",
      "p.yaml");
  const ColumnRule* e = policy->findProtected("public", "p")->findColumn("e");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->role_access.size(), 3u);
  EXPECT_EQ(e->role_access.at("clerk").mask, MaskKind::kHash);
  // allow on a masked column needs a role with unmask: true.
  EXPECT_EQ(loadError(table + "      - {name: e, mask: email, roles: {clerk: allow}}\n"),
            "p.yaml:9:47: role 'clerk' cannot see masked column 'e' plainly: only roles with "
            "unmask: true can be allowed it");
  EXPECT_EQ(loadError(table + "      - {name: e, roles: {nobody: hide}}\n"),
            "p.yaml:9:27: column 'e' names role 'nobody', which the policy does not define "
            "(defined: admin, clerk, editor, owner, viewer)");
  EXPECT_EQ(loadError(table + "      - {name: e, roles: {viewer: rot13}}\n"),
            "p.yaml:9:35: unknown column access 'rot13' (expected allow, hide or a mask: email, "
            "phone, ssn, redact, hash)");
  EXPECT_NE(
      loadError(table.substr(0, table.size() - 10) + "      - {name: t, roles: {viewer: hash}}\n")
          .find("tenant column 't' cannot be masked"),
      std::string::npos);
  EXPECT_EQ(
      loadError(table.substr(0, table.size() - 10) + "      - {name: t, roles: {viewer: hide}}\n"),
      "p.yaml:8:7: role 'viewer' would see no column of p");
}

// ---- rule templates ----------------------------------------------------------------------------

TEST(RowRuleLoading, RulesCompileAndRecordTheirColumns) {
  auto policy = loadPolicyText(
      kTable +
          "      - {roles: [viewer], where: \"region = principal.attributes.region\"}\n"
          "      - where: \"team = ANY(principal.groups) OR tenant_id = principal.tenant\"\n",
      "p.yaml");
  const auto& rules = policy->findProtected("public", "p")->rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].roles, std::vector<std::string>{"viewer"});
  EXPECT_EQ(rules[0].columns, std::set<std::string>{"region"});
  EXPECT_EQ(rules[0].position.line, 7);
  EXPECT_TRUE(rules[1].roles.empty());
  EXPECT_EQ(rules[1].columns, (std::set<std::string>{"team", "tenant_id"}));
  EXPECT_TRUE(rules[1].appliesTo("anyone"));
}

TEST(RowRuleLoading, MistakesNameTheRuleWhereItIsWritten) {
  EXPECT_EQ(ruleError("region = principal.attributes.region AND"),
            "p.yaml:7:16: row rule of p: syntax error at end of input (at character 41)");
  EXPECT_EQ(ruleError("country = 'de'"),
            "p.yaml:7:16: row rule of p: 'country' is not a column of the table in the policy");
  EXPECT_EQ(ruleError("lower(region) = 'eu'"),
            "p.yaml:7:16: row rule of p: function calls are not allowed in a row rule (only "
            "comparisons of the table's columns with constants and principal values)");
  EXPECT_EQ(ruleError("region::int = 1"),
            "p.yaml:7:16: row rule of p: casts are not allowed in a row rule (only comparisons "
            "of the table's columns with constants and principal values)");
  EXPECT_EQ(ruleError("EXISTS (SELECT 1 FROM public.secret)"),
            "p.yaml:7:16: row rule of p: subqueries are not allowed in a row rule (only "
            "comparisons of the table's columns with constants and principal values)");
  EXPECT_EQ(ruleError("team = principal.groups"),
            "p.yaml:7:16: row rule of p: principal.groups is a list: compare with "
            "= ANY(principal.groups)");
  EXPECT_EQ(ruleError("team = principal.password"),
            "p.yaml:7:16: row rule of p: unknown principal reference 'principal.password' "
            "(expected principal.tenant, principal.user, principal.role, principal.groups or "
            "principal.attributes.<name>)");
  EXPECT_EQ(ruleError("p.region = 'eu'"),
            "p.yaml:7:16: row rule of p: write the table's columns unqualified in a row rule "
            "(and no *)");
  EXPECT_EQ(ruleError("region || 'x' = 'eux'"),
            "p.yaml:7:16: row rule of p: operator || is not allowed in a row rule (use = <> < <= "
            "> >=)");
  EXPECT_EQ(ruleError("true ORDER BY 1"),
            "p.yaml:7:16: row rule of p: expected one boolean expression, nothing around it");
  EXPECT_EQ(ruleError("true; DROP TABLE p"),
            "p.yaml:7:16: row rule of p: expected one boolean expression, nothing around it");
  EXPECT_EQ(loadError(kTable + "      - {roles: [ghost], where: \"true\"}\n"),
            "p.yaml:7:18: a row rule names role 'ghost', which the policy does not define "
            "(defined: admin, editor, owner, viewer)");
}

TEST(RowRuleTemplates, SubstitutesPrincipalValuesAsConstants) {
  const auto& policy = rolesPolicy();
  // editor: region = principal.attributes.region, inside the fence next to the tenant filter.
  const Decision eu = decide(principal("editor", {{"region", {{"eu"}, false}}}),
                             "SELECT id FROM notes n, projects", policy);
  EXPECT_NE(sqlOf(eu).find("WHERE public.projects.tenant_id OPERATOR(pg_catalog.=) 'acme' AND "
                           "public.projects.region OPERATOR(pg_catalog.=) 'eu' OFFSET 0"),
            std::string::npos)
      << sqlOf(eu);
  // notes has no rules: only the tenant filter.
  EXPECT_NE(sqlOf(eu).find("WHERE public.notes.tenant_id OPERATOR(pg_catalog.=) 'acme' OFFSET 0"),
            std::string::npos)
      << sqlOf(eu);
  // A value that looks like SQL stays one constant.
  const Decision hostile = decide(principal("editor", {{"region", {{"x' OR '1'='1"}, false}}}),
                                  "SELECT id FROM projects", policy);
  EXPECT_NE(sqlOf(hostile).find("public.projects.region OPERATOR(pg_catalog.=) 'x'' OR ''1''=''1'"),
            std::string::npos)
      << sqlOf(hostile);
}

TEST(RowRuleTemplates, ListsBecomeOneArrayConstantWithEveryElementQuoted) {
  const Decision d =
      decide(principal("admin", {{"regions", {{"eu", "a\"b\\c,{d}"}, true}}}, {"team-1"}),
             "SELECT id FROM projects", rolesPolicy());
  // The deparser writes the constant as an E'' string, since it holds backslashes.
  EXPECT_NE(sqlOf(d).find("(public.projects.team OPERATOR(pg_catalog.=) ANY('{\"team-1\"}') OR "
                          "public.projects.region OPERATOR(pg_catalog.=) "
                          "ANY(E'{\"eu\",\"a\\\\\"b\\\\\\\\c,{d}\"}'))"),
            std::string::npos)
      << sqlOf(d);
}

TEST(RowRuleTemplates, MissingOrMisshapenAttributesDeny) {
  // No region attribute at all: the rule is FALSE, never dropped.
  const Decision none = decide(principal("viewer"), "SELECT id FROM projects", rolesPolicy());
  EXPECT_NE(sqlOf(none).find("'acme' AND false OFFSET 0"), std::string::npos) << sqlOf(none);
  // A list where the rule compares a scalar: FALSE too.
  const Decision list = decide(principal("viewer", {{"region", {{"eu", "us"}, true}}}),
                               "SELECT id FROM projects", rolesPolicy());
  EXPECT_NE(sqlOf(list).find("'acme' AND false OFFSET 0"), std::string::npos) << sqlOf(list);
  // admin without regions: the whole rule denies, even though its other side could match, so
  // a missing attribute never changes what an OR admits in a way nobody reviewed.
  const Decision admin =
      decide(principal("admin", {}, {"t"}), "SELECT id FROM projects", rolesPolicy());
  EXPECT_NE(sqlOf(admin).find("'acme' AND false OFFSET 0"), std::string::npos) << sqlOf(admin);
}

TEST(RowRuleTemplates, CompiledTemplateIsNotChangedByUse) {
  const auto& table = *rolesPolicy().findProtected("public", "projects");
  const auto first = sql::rowRulePredicates(
      table, principal("editor", {{"region", {{"eu"}, false}}}), {"public", "projects"});
  const auto second =
      sql::rowRulePredicates(table, principal("editor", {{"region", {{"us"}, false}}}), {"x"});
  ASSERT_EQ(first.size(), 3u);  // the base table holds every rule; views hold the role's own
  EXPECT_NE(first[0].DebugString(), second[0].DebugString());
  EXPECT_NE(second[0].DebugString().find("\"us\""), std::string::npos);
  EXPECT_NE(second[0].DebugString().find("sval: \"x\""), std::string::npos);
  // Rules for other roles are FALSE when asked for anyway (fail closed).
  EXPECT_TRUE(second[1].has_a_const() && second[1].a_const().has_boolval());
}

// ---- statement kinds ----------------------------------------------------------------------------

TEST(RoleStatements, ViewerCannotWriteAnywhereInAStatement) {
  const auto viewer = principal("viewer", {{"region", {{"eu"}, false}}});
  for (const char* sql :
       {"INSERT INTO notes (body) VALUES ('x')", "UPDATE notes SET body = 'x'", "DELETE FROM notes",
        "WITH d AS (DELETE FROM notes RETURNING id) SELECT * FROM d",
        "EXPLAIN UPDATE notes SET body = 'x'", "PREPARE p AS DELETE FROM notes",
        "COPY notes (body) FROM STDIN"}) {
    const Decision d = decide(viewer, sql, rolesPolicy());
    ASSERT_FALSE(d.has_value()) << sql << " -> " << d->sql;
    EXPECT_EQ(d.error().sqlstate, protocol::sqlstate::kInsufficientPrivilege) << sql;
    EXPECT_NE(d.error().message.find("is not allowed for role 'viewer'"), std::string::npos)
        << sql << ": " << d.error().message;
    EXPECT_EQ(d.error().hint, "role viewer may run: select") << sql;
  }
  EXPECT_TRUE(decide(viewer, "SELECT body FROM notes", rolesPolicy()));
  EXPECT_TRUE(decide(viewer, "COPY notes TO STDOUT", rolesPolicy()));
  EXPECT_TRUE(decide(viewer, "BEGIN", rolesPolicy()));
}

TEST(RoleStatements, SelectOnlyWhenTheRoleListsIt) {
  auto policy = loadPolicyText(
      "tenants: [{id: acme}]\nroles:\n  loader: {statements: [insert]}\n"
      "protected_tables:\n  - {table: public.t, tenant_column: tenant_id, columns: [tenant_id, "
      "v]}\n",
      "p.yaml");
  const Principal loader{"acme", "u", "loader", {}, {}};
  const Decision read = decide(loader, "SELECT v FROM t", *policy);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().message,
            "SELECT is not allowed for role 'loader' by the tenantwall policy");
  EXPECT_TRUE(decide(loader, "INSERT INTO t (v) VALUES (1)", *policy));
  EXPECT_FALSE(decide(loader, "COPY t (v) FROM STDIN", *policy));
}

TEST(RoleStatements, UndefinedRoleIsRefused) {
  const Decision d = decide(principal("root"), "SELECT 1", rolesPolicy());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().sqlstate, protocol::sqlstate::kInsufficientPrivilege);
  EXPECT_EQ(d.error().message, "role 'root' is not defined in the tenantwall policy");
}

// ---- column rules
// --------------------------------------------------------------------------------

TEST(RoleColumns, EachRoleSeesItsOwnColumns) {
  const Policy& policy = rolesPolicy();
  const auto columns = [&](const std::string& role) {
    std::string out;
    for (const ColumnRule& c : policy.forRole(role)->findProtected("public", "projects")->columns)
      out += c.name + (c.mask ? "(" + std::string(maskKindName(*c.mask)) + ")" : "") +
             (c.writable ? "" : "!") + " ";
    return out;
  };
  EXPECT_EQ(columns("viewer"), "id tenant_id name region team email(email)! ");
  EXPECT_EQ(columns("editor"), "id tenant_id name region team email(email)! budget ");
  EXPECT_EQ(columns("admin"), "id tenant_id name region team email budget secret(hash)! ");
  EXPECT_EQ(columns("analyst"),
            "id tenant_id name region team email(email) budget secret(redact) ");
  EXPECT_EQ(columns("auditor"), "id tenant_id name region team email budget secret(redact)! ");
  // The base policy is untouched: its columns keep their defaults and role_access.
  EXPECT_EQ(policy.findProtected("public", "projects")->columns.size(), 8u);
}

TEST(RoleColumns, HiddenColumnsVanishFromStarAndCatalogs) {
  const auto viewer = principal("viewer", {{"region", {{"eu"}, false}}});
  const auto editor = principal("editor", {{"region", {{"eu"}, false}}});
  const Decision star = decide(viewer, "SELECT * FROM projects", rolesPolicy());
  EXPECT_EQ(sqlOf(star).find("budget"), std::string::npos) << sqlOf(star);
  EXPECT_NE(sqlOf(decide(editor, "SELECT * FROM projects", rolesPolicy())).find("budget"),
            std::string::npos);
  const std::string catalog = "SELECT column_name FROM information_schema.columns";
  EXPECT_EQ(sqlOf(decide(viewer, catalog, rolesPolicy())).find("'budget'"), std::string::npos);
  EXPECT_NE(sqlOf(decide(editor, catalog, rolesPolicy())).find("'budget'"), std::string::npos);
}

TEST(RoleColumns, WritesToColumnsNotSeenPlainlyAreRefused) {
  const auto editor = principal("editor", {{"region", {{"eu"}, false}}});
  for (const char* sql : {"UPDATE projects SET email = 'a@b.c'",
                          "INSERT INTO projects (region, email) VALUES ('eu', 'a@b.c')",
                          "COPY notes (body) FROM STDIN"}) {
    const Decision d = decide(editor, sql, rolesPolicy());
    if (std::string(sql).starts_with("COPY")) {
      EXPECT_TRUE(d) << sqlOf(d);  // notes has no masked column and no rules
      continue;
    }
    ASSERT_FALSE(d) << sql;
    EXPECT_EQ(d.error().message,
              "column projects.email cannot be written: your role sees it masked under the "
              "tenantwall policy");
  }
  const Decision hidden = decide(editor, "UPDATE projects SET secret = 'x'", rolesPolicy());
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().message,
            "column projects.secret is not visible under the tenantwall policy");
  // analyst has write_masked: it may write what it reads masked.
  EXPECT_TRUE(decide(principal("analyst"), "UPDATE projects SET secret = 'x'", rolesPolicy()));
}

// ---- writes under row rules
// -------------------------------------------------------------------------

TEST(RowRuleWrites, RowsMustProvablySatisfyTheRules) {
  const auto editor = principal("editor", {{"region", {{"eu"}, false}}});
  const auto allowed = [&](const std::string& sql) {
    const Decision d = decide(editor, sql, rolesPolicy());
    return d ? std::string("allowed") : d.error().sqlstate + " " + d.error().message;
  };
  EXPECT_EQ(allowed("INSERT INTO projects (name, region) VALUES ('a', 'eu'), ('b', 'eu')"),
            "allowed");
  EXPECT_EQ(allowed("INSERT INTO projects (name, region) VALUES ('a', 'eu'), ('b', 'us')"),
            "42501 INSERT on projects could write a row outside the row rule \"region = "
            "principal.attributes.region\" of role 'editor'");
  EXPECT_NE(allowed("INSERT INTO projects (name) VALUES ('a')").find("outside the row rule"),
            std::string::npos);
  EXPECT_NE(allowed("INSERT INTO projects (name, region) VALUES ('a', $1)").find("outside"),
            std::string::npos);
  EXPECT_NE(allowed("INSERT INTO projects (name, region) SELECT name, region FROM projects")
                .find("INSERT ... SELECT into projects is not allowed under row rules"),
            std::string::npos);
  EXPECT_EQ(allowed("UPDATE projects SET name = 'x'"), "allowed");
  EXPECT_EQ(allowed("UPDATE projects SET region = 'eu', name = 'x'"), "allowed");
  EXPECT_NE(allowed("UPDATE projects SET region = 'us'").find("UPDATE on projects could write"),
            std::string::npos);
  EXPECT_NE(allowed("UPDATE projects SET region = upper(region)").find("outside"),
            std::string::npos);
  EXPECT_NE(
      allowed("COPY projects (name, region) FROM STDIN")
          .find("COPY into public.projects is not allowed under the row rules of role 'editor'"),
      std::string::npos);
  EXPECT_NE(allowed("INSERT INTO projects (id, name, region) VALUES (1, 'a', 'eu') ON CONFLICT "
                    "(id) DO UPDATE SET region = 'us'")
                .find("ON CONFLICT DO UPDATE on projects could write"),
            std::string::npos);
}

TEST(RowRuleWrites, AnOrIsProvenByEitherSideAndConjunctsByAll) {
  const auto admin = principal("admin", {{"regions", {{"eu", "us"}, true}}}, {"red"});
  const auto check = [&](const std::string& sql) {
    return decide(admin, sql, rolesPolicy()).has_value();
  };
  EXPECT_TRUE(check("INSERT INTO projects (team, region) VALUES ('red', 'apac')"));
  EXPECT_TRUE(check("INSERT INTO projects (team, region) VALUES ('blue', 'us')"));
  EXPECT_FALSE(check("INSERT INTO projects (team, region) VALUES ('blue', 'apac')"));
  const auto auditor = principal("auditor");
  EXPECT_FALSE(decide(auditor, "INSERT INTO projects (region) VALUES ('eu')", rolesPolicy()));
}

TEST(RowRuleWrites, UpdateAndDeleteCarryTheRulesInTheirWhere) {
  const auto editor = principal("editor", {{"region", {{"eu"}, false}}});
  EXPECT_EQ(sqlOf(decide(editor, "DELETE FROM projects p WHERE id = 3", rolesPolicy())),
            "DELETE FROM public.projects p WHERE p.tenant_id OPERATOR(pg_catalog.=) 'acme' AND "
            "p.region OPERATOR(pg_catalog.=) 'eu' AND id OPERATOR(pg_catalog.=) 3");
  EXPECT_EQ(sqlOf(decide(editor, "UPDATE projects SET name = 'x'", rolesPolicy())),
            "UPDATE public.projects SET name = 'x' WHERE public.projects.tenant_id "
            "OPERATOR(pg_catalog.=) 'acme' AND public.projects.region OPERATOR(pg_catalog.=) 'eu'");
}

// ---- views follow the policy they were made from ------------------------------------------------

TEST(RoleViewsTest, ACopyBuildsItsOwnViews) {
  const Policy& base = rolesPolicy();
  ASSERT_NE(base.forRole("editor"), nullptr);  // built
  ColumnFacts facts;
  facts.leakproof_equality.insert("public.projects.id");
  const auto annotated = annotateColumns(base, facts, 7);
  EXPECT_TRUE(annotated->forRole("editor")
                  ->findProtected("public", "projects")
                  ->findColumn("id")
                  ->leakproof_equality);
  EXPECT_FALSE(base.forRole("editor")
                   ->findProtected("public", "projects")
                   ->findColumn("id")
                   ->leakproof_equality);
  EXPECT_EQ(annotated->forRole("nobody"), nullptr);
}

// ---- the live-schema check
// ------------------------------------------------------------------------

TEST(SchemaCheck, MatchingSchemaHasNoErrors) {
  const SchemaColumns schema = {
      {"public.projects",
       {"id", "tenant_id", "name", "region", "team", "email", "budget", "secret", "extra"}},
      {"public.notes", {"id", "tenant_id", "body"}}};
  EXPECT_TRUE(checkPolicySchema(rolesPolicy(), schema).empty());
}

TEST(SchemaCheck, ColumnsFromTheQueryRows) {
  const std::vector<std::vector<std::optional<std::string>>> rows = {
      {"public", "t", "a"},
      {"public", "t", "b"},
      {"public", "empty", std::nullopt},
      {"public", "short"},
      {std::nullopt, "x", "y"}};
  EXPECT_EQ(schemaColumnsFromRows(rows),
            (SchemaColumns{{"public.t", {"a", "b"}}, {"public.empty", {}}}));
}

TEST(SchemaCheck, UnknownTablesAndColumnsAreNamedWhereTheyAreWritten) {
  auto policy = loadPolicyText(
      "tenants: [{id: a}]\n"
      "protected_tables:\n"
      "  - table: public.t\n"
      "    tenant_column: tid\n"
      "    columns: [id, emial]\n"
      "  - {table: public.gone, tenant_column: t, columns: [t]}\n"
      "reference_tables: [public.countries, public.planets]\n",
      "p.yaml");
  const SchemaColumns schema = {{"public.t", {"id", "email"}}, {"public.countries", {"code"}}};
  const auto errors = checkPolicySchema(*policy, schema);
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "p.yaml:6:13: protected table public.gone does not exist in the database",
                        "p.yaml:4:20: column public.t.tid does not exist in the database",
                        "p.yaml:5:19: column public.t.emial does not exist in the database",
                        "p.yaml:7:38: reference table public.planets does not exist in the "
                        "database"}));
}

}  // namespace
}  // namespace tenantwall::policy
