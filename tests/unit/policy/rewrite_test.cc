// Data-driven tests of decide(): every case in rewrite_cases/*.txt, one GoogleTest case each.
//
// Case file format (one case per "===" header, keys one per line):
//   # a comment
//   === name of the case
//   tenant: acme                  (optional, default acme)
//   sql: SELECT * FROM customers  (continuation lines start with "| " and add a newline)
//   expect: <exact deparsed SQL>  (or)  expect-error: 42501 optional message substring
//   kinds: SELECT BEGIN           (optional: Allowed::statement_kinds, space separated)
//   tenant-parameters: 1 3        (optional: Allowed::tenant_parameters, "none" for empty)
//   relations: public.customers   (optional: Allowed::relations, space separated)
//   copy-in: format=csv delimiter=, header=true null= quote=" escape=" columns=id,tenant_id
//            tenant_index=1 appended=true tenant=acme
//                                 (optional: Allowed::copy_in rendered as above, on one line, a
//                                  tab as \t and no character as nothing; "none" when unset)
//   plan: text                    (optional: Allowed::render_plan, "text", "json" or "none")
//   leakproof: all                (optional: decide with every column's equality leakproof)
//   foreign-keys: demo            (optional: the foreign keys of deploy/demo/schema.sql, as the
//                                  proxy reads them; "extra" adds keys to a hidden table and a
//                                  two-column key; "pending": not read yet; default: none, read)
//   unique-keys: demo             (optional: "foreign-keys: demo" plus the unique keys of
//                                  deploy/demo/schema.sql, the primary keys on id, and more:
//                                  see uniqueKeyPolicy; "inherited": the same, and customers has
//                                  inheritance children)
//   policy: roles                 (optional: tests/unit/policy/roles_policy.yaml instead of
//                                  conf/policy.yaml)
//   role: viewer                  (optional, default analyst)
//   groups: team-a team-b         (optional: the principal's groups)
//   attributes: region=eu regions=[eu,us] none=[]
//                                 (optional: scalar and list attributes of the principal)
//   define NAME: text             (outside a case: ${NAME} in any later expect: is replaced by
//                                  text, so long fenced subqueries are written, and read, once;
//                                  ${NAME(a, b)} is a fence define with only columns a and b)
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "policy/column_facts.h"
#include "policy/engine.h"
#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

struct RewriteCase {
  std::string file;
  int line = 0;
  std::string name;
  std::string tenant = "acme";
  std::string sql;
  bool has_sql = false;
  std::optional<std::string> expect;
  std::optional<std::string> expect_error;  // "SQLSTATE[ message substring]"
  std::optional<std::string> kinds;
  std::optional<std::string> tenant_parameters;
  std::optional<std::string> relations;
  std::optional<std::string> copy_in;
  std::optional<std::string> plan;
  bool leakproof = false;     // "leakproof: all": every column's equality is known leakproof
  std::string foreign_keys;   // "foreign-keys:": "", "demo", "extra" or "pending"
  std::string unique_keys;    // "unique-keys:": "", "demo" or "inherited"
  bool roles_policy = false;  // "policy: roles"
  std::string role = "analyst";
  std::vector<std::string> groups;
  std::map<std::string, Attribute> attributes;
  std::string load_error;  // set on a single placeholder case when the files cannot be read
};

// Names a case in failure output instead of GoogleTest's byte dump.
void PrintTo(const RewriteCase& c, std::ostream* os) { *os << c.file << ":" << c.line; }

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Splits text at the separator where it stands outside parentheses and quotes.
std::vector<std::string> splitTopLevel(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  int depth = 0;
  char quote = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quote != 0) {
      if (ch == quote) quote = 0;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
    } else if (ch == '(') {
      ++depth;
    } else if (ch == ')') {
      --depth;
    } else if (depth == 0 && text.compare(i, separator.size(), separator) == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + separator.size();
      i = start - 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// A fence define with only the named columns, in the fence's order: ${CUSTOMERS(id, email)}
// for the fence the rewriter narrows to what a statement names (policy/sql/fence_columns.h).
std::string narrowFence(const std::string& fence, const std::string& wanted,
                        const std::string& where) {
  const std::vector<std::string> halves = splitTopLevel(fence.substr(1), " FROM ");
  if (!fence.starts_with("(SELECT ") || halves.size() < 2)
    throw std::runtime_error(where + ": not a fence define: " + fence);
  const std::string rest = fence.substr(1 + halves[0].size());  // " FROM ...)"
  std::vector<std::string> names;
  for (const std::string& name : splitTopLevel(wanted, ","))
    if (!trim(name).empty()) names.push_back(trim(name));
  std::string columns;
  std::size_t found = 0;
  for (const std::string& column : splitTopLevel(halves[0].substr(7), ", ")) {
    const std::vector<std::string> as = splitTopLevel(column, " AS ");
    const std::string name =
        as.size() > 1 ? as.back() : column.substr(column.find_last_of('.') + 1);
    if (std::ranges::find(names, name) == names.end()) continue;
    columns.append(columns.empty() ? " " : ", ").append(column);
    ++found;
  }
  if (found != names.size()) throw std::runtime_error(where + ": no such column in " + wanted);
  return "(SELECT" + columns + rest;
}

// Replaces every ${NAME} by its definition and every ${NAME(a, b)} by that fence narrowed to
// columns a and b; an undefined name is an error in the case file.
std::string expand(const std::string& text, const std::map<std::string, std::string>& defines,
                   const std::string& where) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = text.find("${", pos);
    if (open == std::string::npos) break;
    const auto close = text.find('}', open);
    if (close == std::string::npos) throw std::runtime_error(where + ": unterminated ${");
    const std::string key = text.substr(open + 2, close - open - 2);
    const auto paren = key.find('(');
    const auto it = defines.find(key.substr(0, paren));
    if (it == defines.end()) throw std::runtime_error(where + ": undefined " + text.substr(open));
    out.append(text, pos, open - pos);
    if (paren == std::string::npos) {
      out.append(it->second);
    } else {
      if (!key.ends_with(")")) throw std::runtime_error(where + ": bad " + text.substr(open));
      out.append(narrowFence(it->second, key.substr(paren + 1, key.size() - paren - 2), where));
    }
    pos = close + 1;
  }
  return out.append(text, pos);
}

std::vector<RewriteCase> loadCases() {
  const std::filesystem::path dir = std::filesystem::path(TENANTWALL_TEST_DATA) / "rewrite_cases";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  }
  std::ranges::sort(files);

  std::vector<RewriteCase> cases;
  std::map<std::string, std::string> defines;
  for (const auto& path : files) {
    std::ifstream in(path);
    std::string line;
    int number = 0;
    std::string* last_value = nullptr;
    while (std::getline(in, line)) {
      ++number;
      if (line.starts_with("#") || trim(line).empty()) continue;
      if (line.starts_with("define ")) {
        const auto colon = line.find(':');
        if (colon == std::string::npos)
          throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": bad define");
        std::string value = line.substr(colon + 1);
        if (value.starts_with(" ")) value.erase(0, 1);
        defines[trim(line.substr(7, colon - 7))] =
            expand(value, defines, path.string() + ":" + std::to_string(number));
        last_value = nullptr;
        continue;
      }
      if (line.starts_with("=== ")) {
        cases.push_back({path.filename().string(), number, trim(line.substr(4))});
        last_value = nullptr;
        continue;
      }
      if (cases.empty()) throw std::runtime_error(path.string() + ": text before first ===");
      RewriteCase& c = cases.back();
      if (line.starts_with("| ") && last_value != nullptr) {
        last_value->append("\n").append(line.substr(2));
        continue;
      }
      const auto colon = line.find(':');
      if (colon == std::string::npos)
        throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": no key");
      const std::string key = line.substr(0, colon);
      // Values keep inner spacing; only the one space after the colon is dropped.
      std::string value = line.substr(colon + 1);
      if (value.starts_with(" ")) value.erase(0, 1);
      if (key == "tenant") {
        c.tenant = trim(value);
      } else if (key == "sql") {
        c.sql = value;
        c.has_sql = true;
        last_value = &c.sql;
        continue;
      } else if (key == "expect") {
        c.expect = expand(value, defines, path.string() + ":" + std::to_string(number));
      } else if (key == "expect-error") {
        c.expect_error = trim(value);
      } else if (key == "tenant-parameters") {
        c.tenant_parameters = trim(value);
      } else if (key == "kinds") {
        c.kinds = trim(value);
      } else if (key == "relations") {
        c.relations = trim(value);
      } else if (key == "copy-in") {
        c.copy_in = trim(value);
      } else if (key == "plan") {
        c.plan = trim(value);
      } else if (key == "foreign-keys") {
        c.foreign_keys = trim(value);
      } else if (key == "unique-keys") {
        c.unique_keys = trim(value);
      } else if (key == "leakproof" && trim(value) == "all") {
        c.leakproof = true;
      } else if (key == "policy" && trim(value) == "roles") {
        c.roles_policy = true;
      } else if (key == "role") {
        c.role = trim(value);
      } else if (key == "groups") {
        std::istringstream words(value);
        for (std::string word; words >> word;) c.groups.push_back(word);
      } else if (key == "attributes") {
        std::istringstream words(value);
        for (std::string word; words >> word;) {
          const auto eq = word.find('=');
          if (eq == std::string::npos) throw std::runtime_error(path.string() + ": bad attribute");
          std::string text = word.substr(eq + 1);
          Attribute attribute;
          if (text.starts_with("[") && text.ends_with("]")) {
            attribute.list = true;
            std::istringstream items(text.substr(1, text.size() - 2));
            for (std::string item; std::getline(items, item, ',');)
              attribute.values.push_back(item);
          } else {
            attribute.values.push_back(text);
          }
          c.attributes[word.substr(0, eq)] = std::move(attribute);
        }
      } else {
        throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": unknown key " +
                                 key);
      }
      last_value = nullptr;
    }
  }
  return cases;
}

std::vector<RewriteCase> loadCasesOrError() {
  try {
    return loadCases();
  } catch (const std::exception& e) {
    RewriteCase broken{.file = "rewrite_cases", .name = "case files"};
    broken.load_error = e.what();
    return {broken};
  }
}

const Policy& testPolicy(bool leakproof = false) {
  static const std::shared_ptr<const Policy> policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
  // As the proxy annotates it after reading pg_operator and pg_proc of a live database.
  static const Policy annotated = [] {
    Policy copy = *policy;
    for (auto& [key, table] : copy.protected_tables)
      for (auto& column : table.columns) column.leakproof_equality = true;
    return copy;
  }();
  return leakproof ? annotated : *policy;
}

ForeignKey foreignKey(std::string constraint, std::vector<std::string> columns,
                      std::string referenced, std::vector<std::string> referenced_columns,
                      std::vector<std::vector<std::string>> types) {
  return ForeignKey{.constraint = std::move(constraint),
                    .columns = std::move(columns),
                    .referenced_schema = "public",
                    .referenced_table = std::move(referenced),
                    .referenced_columns = std::move(referenced_columns),
                    .column_types = std::move(types)};
}

// conf/policy.yaml annotated with foreign keys as the proxy reads them from a live database:
// "demo" those of deploy/demo/schema.sql, "extra" more, "pending" none read yet.
const Policy& foreignKeyPolicy(const std::string& which) {
  static const std::map<std::string, std::shared_ptr<const Policy>> policies = [] {
    const Policy& base = testPolicy();
    const std::vector<std::string> text = {"pg_catalog", "text"};
    const std::vector<std::string> int4 = {"pg_catalog", "int4"};
    ColumnFacts demo;
    demo.foreign_keys_read = true;
    demo.foreign_keys["public.customers"] = {
        foreignKey("customers_tenant_id_fkey", {"tenant_id"}, "tenants", {"id"}, {text})};
    demo.foreign_keys["public.orders"] = {
        foreignKey("orders_customer_id_fkey", {"customer_id"}, "customers", {"id"}, {int4}),
        foreignKey("orders_tenant_id_fkey", {"tenant_id"}, "tenants", {"id"}, {text})};
    ColumnFacts extra = demo;
    extra.foreign_keys["public.orders"].push_back(
        foreignKey("orders_status_fkey", {"status"}, "internal_audit", {"payload"}, {text}));
    extra.foreign_keys["public.customers"].push_back(foreignKey(
        "customers_pair_fkey", {"ssn", "name"}, "orders", {"status", "status"}, {text, text}));
    extra.foreign_keys["public.customers"].push_back(
        foreignKey("customers_tenant_pair_fkey", {"tenant_id", "email"}, "customers",
                   {"tenant_id", "name"}, {text, text}));
    extra.foreign_keys["public.customers"].push_back(
        foreignKey("customers_country_fkey", {"phone"}, "countries", {"code"}, {text}));
    ColumnFacts pending;
    return std::map<std::string, std::shared_ptr<const Policy>>{
        {"demo", annotateColumns(base, demo, base.version)},
        {"extra", annotateColumns(base, extra, base.version)},
        {"pending", annotateColumns(base, pending, base.version)}};
  }();
  const auto it = policies.find(which);
  if (it == policies.end()) throw std::runtime_error("unknown foreign-keys: " + which);
  return *it->second;
}

// conf/policy.yaml annotated with the foreign keys of "demo" and unique keys: the primary keys
// on id (global), customers_email_key on lower(email) WHERE phone IS NOT NULL (global, an
// expression and partial index), orders_tenant_status_key (tenant_id, status) (per tenant);
// "inherited": customers also has inheritance children.
const Policy& uniqueKeyPolicy(const std::string& which) {
  static const std::map<std::string, std::shared_ptr<const Policy>> policies = [] {
    const Policy& base = foreignKeyPolicy("demo");
    ColumnFacts facts;
    facts.foreign_keys_read = true;
    for (const auto& [key, table] : base.protected_tables)
      facts.foreign_keys[table.schema + "." + table.name] = table.foreign_keys;
    facts.unique_keys["public.customers"] = {
        UniqueKey{.id = "1", .name = "customers_pkey", .columns = {"id"}},
        UniqueKey{.id = "2",
                  .name = "customers_email_key",
                  .columns = {},
                  .expression_columns = {"email", "phone"}}};
    facts.unique_keys["public.orders"] = {
        UniqueKey{.id = "3", .name = "orders_pkey", .columns = {"id"}},
        UniqueKey{
            .id = "4", .name = "orders_tenant_status_key", .columns = {"tenant_id", "status"}}};
    ColumnFacts inherited = facts;
    inherited.inherited = {"public.customers"};
    return std::map<std::string, std::shared_ptr<const Policy>>{
        {"demo", annotateColumns(base, facts, base.version)},
        {"inherited", annotateColumns(base, inherited, base.version)}};
  }();
  const auto it = policies.find(which);
  if (it == policies.end()) throw std::runtime_error("unknown unique-keys: " + which);
  return *it->second;
}

// Roles, row rules and per-role columns over tables of their own (tests/unit/policy).
const Policy& rolesPolicy() {
  static const std::shared_ptr<const Policy> policy =
      loadPolicyFile(std::string(TENANTWALL_TEST_DATA) + "/roles_policy.yaml");
  return *policy;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : " ").append(item);
  return out;
}

std::string character(char c) {
  if (c == '\t') return "\\t";
  if (c == '\0') return "";
  return std::string(1, c);
}

std::string rendered(const std::optional<Allowed::CopyIn>& copy_in) {
  if (!copy_in) return "none";
  std::string columns;
  for (const auto& column : copy_in->columns)
    columns.append(columns.empty() ? "" : ",").append(column);
  return "format=" + copy_in->format + " delimiter=" + character(copy_in->delimiter) +
         " header=" + (copy_in->header ? "true" : "false") + " null=" + copy_in->null_string +
         " quote=" + character(copy_in->quote) + " escape=" + character(copy_in->escape) +
         " columns=" + columns + " tenant_index=" + std::to_string(copy_in->tenant_column_index) +
         " appended=" + (copy_in->tenant_appended ? "true" : "false") +
         " tenant=" + copy_in->tenant;
}

class RewriteCases : public ::testing::TestWithParam<RewriteCase> {};

TEST_P(RewriteCases, Decides) {
  const RewriteCase& c = GetParam();
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.name);
  ASSERT_EQ(c.load_error, "");
  ASSERT_TRUE(c.has_sql) << "case has no sql";
  ASSERT_NE(c.expect.has_value(), c.expect_error.has_value())
      << "case needs exactly one of expect / expect-error";

  Principal principal{.tenant = c.tenant,
                      .user = "test",
                      .role = c.role,
                      .groups = c.groups,
                      .attributes = c.attributes};
  const Policy& policy = c.roles_policy            ? rolesPolicy()
                         : !c.unique_keys.empty()  ? uniqueKeyPolicy(c.unique_keys)
                         : !c.foreign_keys.empty() ? foreignKeyPolicy(c.foreign_keys)
                                                   : testPolicy(c.leakproof);
  const Decision decision = decide(principal, c.sql, policy);

  if (c.expect_error) {
    ASSERT_FALSE(decision.has_value()) << "expected an error, got: " << decision->sql;
    const auto space = c.expect_error->find(' ');
    const std::string state = c.expect_error->substr(0, space);
    EXPECT_EQ(decision.error().sqlstate, state) << decision.error().message;
    if (space != std::string::npos) {
      const std::string fragment = c.expect_error->substr(space + 1);
      EXPECT_NE(decision.error().message.find(fragment), std::string::npos)
          << "message: " << decision.error().message;
    }
    EXPECT_FALSE(decision.error().message.empty());
    return;
  }

  ASSERT_TRUE(decision.has_value()) << decision.error().sqlstate << " " << decision.error().message;
  EXPECT_EQ(decision->sql, *c.expect) << "actual:\n" << decision->sql;
  if (c.kinds) {
    EXPECT_EQ(joined(decision->statement_kinds), *c.kinds);
  }
  if (c.relations) {
    EXPECT_EQ(joined(decision->relations), *c.relations);
  }
  if (c.tenant_parameters) {
    std::string numbers;
    for (int number : decision->tenant_parameters)
      numbers.append(numbers.empty() ? "" : " ").append(std::to_string(number));
    EXPECT_EQ(numbers.empty() ? "none" : numbers, *c.tenant_parameters);
  }
  if (c.copy_in) {
    EXPECT_EQ(rendered(decision->copy_in), *c.copy_in);
  }
  if (c.plan) {
    const auto& plan = decision->render_plan;
    EXPECT_EQ(!plan ? "none" : *plan == PlanFormat::kJson ? "json" : "text", *c.plan);
  }

  // What we forward must be SQL that tenantwall itself accepts again: it parses, every name in
  // it is allowed, and re-fencing it changes nothing about what it may read.
  if (!decision->sql.empty()) {
    const Decision again = decide(principal, decision->sql, policy);
    EXPECT_TRUE(again.has_value())
        << "rewritten SQL refused on a second pass: " << again.error().message;
    if (again && c.relations) {
      EXPECT_EQ(joined(again->relations), *c.relations);
    }
  }
}

std::string caseName(const ::testing::TestParamInfo<RewriteCase>& info) {
  std::string name = info.param.file.substr(0, info.param.file.find('.')) + "_" +
                     std::to_string(info.param.line) + "_";
  for (char ch : info.param.name) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      name += ch;
    } else if (name.back() != '_') {
      name += '_';
    }
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Files, RewriteCases, ::testing::ValuesIn(loadCasesOrError()), caseName);

TEST(RewriteCaseFiles, HaveManyCases) { EXPECT_GE(loadCasesOrError().size(), 60U); }

}  // namespace
}  // namespace tenantwall::policy
