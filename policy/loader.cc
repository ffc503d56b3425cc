// YAML policy loading and validation. Start-up and reload path only, so errors are exceptions
// that carry file:line:column; unknown keys are errors too, because a typo must not open access.
#include "policy/loader.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "policy/digest.h"
#include "protocol/scram.h"

namespace tenantwall::policy {
namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const {
    const YAML::Mark mark = at.Mark();
    std::ostringstream msg;
    msg << source_ << ':' << (mark.line + 1) << ':' << (mark.column + 1) << ": " << what;
    throw PolicyLoadError(msg.str());
  }

  void expectKeys(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                  std::string_view what) const {
    if (!map.IsMap()) fail(map, std::string(what) + " must be a mapping");
    for (const auto& kv : map) {
      const auto key = kv.first.as<std::string>();
      bool known = false;
      for (auto a : allowed) known = known || a == key;
      if (!known) {
        std::string list;
        for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
        fail(kv.first, "unknown key '" + key + "' in " + std::string(what) +
                           " (expected one of: " + list + ")");
      }
    }
  }

  std::string requiredString(const YAML::Node& map, const char* key, std::string_view what) const {
    const YAML::Node value = map[key];
    if (!value) fail(map, std::string(what) + " needs '" + key + "'");
    if (!value.IsScalar() || value.Scalar().empty())
      fail(value, std::string(what) + ": '" + key + "' must be a non-empty string");
    return value.Scalar();
  }

  std::string optionalString(const YAML::Node& map, const char* key) const {
    const YAML::Node value = map[key];
    if (!value) return {};
    if (!value.IsScalar()) fail(value, std::string("'") + key + "' must be a string");
    return value.Scalar();
  }

  // By value: callers pass temporaries like item["columns"] and loop over the result.
  YAML::Node sequence(const YAML::Node& node, std::string_view what) const {
    if (!node.IsSequence()) fail(node, std::string(what) + " must be a list");
    return node;
  }

  // "schema.table": both parts required, so no lookup ever depends on search_path.
  std::pair<std::string, std::string> qualifiedName(const YAML::Node& node) const {
    if (!node.IsScalar()) fail(node, "a table name must be a string like public.orders");
    const std::string text = node.Scalar();
    const auto dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == text.size() ||
        text.find('.', dot + 1) != std::string::npos)
      fail(node, "table '" + text + "' must be schema-qualified, like public.orders");
    return {text.substr(0, dot), text.substr(dot + 1)};
  }

 private:
  std::string source_;
};

void loadTenants(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "tenants")) {
    r.expectKeys(item, {"id", "name"}, "a tenant");
    Tenant tenant{r.requiredString(item, "id", "a tenant"), r.optionalString(item, "name")};
    if (policy.isTenant(tenant.id)) r.fail(item, "duplicate tenant id '" + tenant.id + "'");
    policy.tenants.push_back(std::move(tenant));
  }
}

void loadUsers(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "users")) {
    r.expectKeys(item, {"name", "tenant", "role", "scram"}, "a user");
    User user;
    user.name = r.requiredString(item, "name", "a user");
    user.tenant = r.requiredString(item, "tenant", "user '" + user.name + "'");
    user.role = r.requiredString(item, "role", "user '" + user.name + "'");
    user.scram_verifier = r.requiredString(item, "scram", "user '" + user.name + "'");
    if (!policy.isTenant(user.tenant))
      r.fail(item["tenant"], "user '" + user.name + "' names unknown tenant '" + user.tenant + "'");
    if (auto v = protocol::parseScramVerifier(user.scram_verifier); !v)
      r.fail(item["scram"],
             "user '" + user.name + "': " + v.error() + " (create one with `tenantwall passwd`)");
    if (policy.users.contains(user.name)) r.fail(item, "duplicate user '" + user.name + "'");
    policy.users.emplace(user.name, std::move(user));
  }
}

ColumnRule loadColumn(const Reader& r, const YAML::Node& item) {
  if (item.IsScalar()) return ColumnRule{item.Scalar(), std::nullopt};
  r.expectKeys(item, {"name", "mask"}, "a column");
  ColumnRule column{r.requiredString(item, "name", "a column"), std::nullopt};
  if (item["mask"]) {
    const std::string kind = r.requiredString(item, "mask", "column '" + column.name + "'");
    column.mask = maskKindFromName(kind);
    if (!column.mask)
      r.fail(item["mask"],
             "unknown mask '" + kind + "' (expected email, phone, ssn, redact, hash)");
  }
  return column;
}

void loadProtectedTables(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "protected_tables")) {
    r.expectKeys(item, {"table", "tenant_column", "columns"}, "a protected table");
    if (!item["table"]) r.fail(item, "a protected table needs 'table'");
    auto [schema, name] = r.qualifiedName(item["table"]);
    ProtectedTable table{
        schema, name, r.requiredString(item, "tenant_column", schema + "." + name), {}};
    if (!item["columns"])
      r.fail(item, "protected table " + schema + "." + name + " needs 'columns'");
    std::set<std::string> seen;
    for (const auto& c : r.sequence(item["columns"], "columns")) {
      ColumnRule column = loadColumn(r, c);
      if (!seen.insert(column.name).second) r.fail(c, "duplicate column '" + column.name + "'");
      if (column.name == table.tenant_column && column.mask)
        r.fail(c, "the tenant column '" + column.name + "' cannot be masked");
      table.columns.push_back(std::move(column));
    }
    if (table.columns.empty()) r.fail(item["columns"], "a protected table needs visible columns");
    const std::string key = schema + "." + name;
    if (policy.protected_tables.contains(key)) r.fail(item, "duplicate protected table " + key);
    policy.protected_tables.emplace(key, std::move(table));
  }
}

void loadReferenceTables(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "reference_tables")) {
    auto [schema, name] = r.qualifiedName(item);
    const std::string key = schema + "." + name;
    if (policy.protected_tables.contains(key))
      r.fail(item, key + " is protected and cannot also be a shared reference table");
    if (!policy.reference_tables.insert(key).second)
      r.fail(item, "duplicate reference table " + key);
  }
}

}  // namespace

std::shared_ptr<const Policy> loadPolicyText(std::string_view yaml_text, const std::string& source,
                                             std::uint64_t version) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw PolicyLoadError(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                          std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  const Reader r(source);
  if (!root.IsMap()) r.fail(root, "a policy must be a mapping with tenants, users and tables");
  r.expectKeys(root, {"tenants", "users", "protected_tables", "reference_tables"}, "the policy");

  auto policy = std::make_shared<Policy>();
  policy->source = source;
  policy->hash = sha256Hex(yaml_text);
  policy->version = version;
  try {
    if (!root["tenants"]) r.fail(root, "the policy needs 'tenants'");
    loadTenants(r, root["tenants"], *policy);
    if (root["users"]) loadUsers(r, root["users"], *policy);
    if (root["protected_tables"]) loadProtectedTables(r, root["protected_tables"], *policy);
    if (root["reference_tables"]) loadReferenceTables(r, root["reference_tables"], *policy);
  } catch (const YAML::Exception& e) {
    // Type conversions inside yaml-cpp; still report where.
    throw PolicyLoadError(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                          std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return policy;
}

std::shared_ptr<const Policy> loadPolicyFile(const std::string& path, std::uint64_t version) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PolicyLoadError(path + ":1:1: cannot open policy file");
  std::ostringstream text;
  text << in.rdbuf();
  return loadPolicyText(text.str(), path, version);
}

}  // namespace tenantwall::policy
