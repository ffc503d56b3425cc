// YAML policy loading and validation. Start-up and reload path only, so errors are exceptions
// that carry file:line:column; unknown keys are errors too, because a typo must not open access.
#include "policy/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "policy/digest.h"
#include "policy/jwt_keys.h"
#include "policy/roles.h"
#include "policy/shared_dataset.h"
#include "policy/sql/row_rules.h"
#include "policy/yaml_keys.h"
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

SourcePosition positionOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return {mark.line + 1, mark.column + 1};
}

std::string definedRoles(const Policy& policy) {
  std::string names;
  for (const auto& [name, role] : policy.roles)
    names.append(names.empty() ? "" : ", ").append(name);
  return names;
}

const Role& definedRole(const Reader& r, const YAML::Node& node, const Policy& policy,
                        std::string_view what) {
  const std::string name = node.IsScalar() ? node.Scalar() : std::string();
  const Role* role = policy.findRole(name);
  if (role == nullptr)
    r.fail(node, std::string(what) + " names role '" + name +
                     "', which the policy does not define (defined: " + definedRoles(policy) + ")");
  return *role;
}

// The `roles` section (policy/roles.h): name -> {statements, unmask, write_masked}. owner,
// admin, editor and viewer exist with their defaults unless the section defines them.
void loadRoles(const Reader& r, const YAML::Node& map, Policy& policy) {
  policy.roles = defaultRoles();
  if (!map) return;
  if (!map.IsMap()) r.fail(map, "roles must be a mapping from role name to its definition");
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
    if (name.empty()) r.fail(kv.first, "a role name must be a non-empty string");
    if (!seen.insert(name).second) r.fail(kv.first, "duplicate role '" + name + "'");
    const std::string what = "role '" + name + "'";
    r.expectKeys(kv.second, {"statements", "unmask", "write_masked"}, what);
    Role role{name, {}, false, false};
    if (!kv.second["statements"])
      r.fail(kv.second, what + " needs 'statements', like [select, insert, update, delete]");
    for (const auto& item : r.sequence(kv.second["statements"], what + ": statements")) {
      const std::string kind = item.IsScalar() ? item.Scalar() : std::string();
      const auto statement = statementKindFromName(kind);
      if (!statement)
        r.fail(item, "unknown statement kind '" + kind +
                         "' (expected select, insert, update, delete, copy_from)");
      if (!role.statements.insert(*statement).second)
        r.fail(item, "duplicate statement kind '" + kind + "'");
    }
    if (kv.second["unmask"]) role.unmask = kv.second["unmask"].as<bool>();
    if (kv.second["write_masked"]) role.write_masked = kv.second["write_masked"].as<bool>();
    policy.roles.insert_or_assign(name, std::move(role));
  }
}

// `groups: [a, b]` and `attributes: {region: eu, regions: [eu, us]}` of a static user.
void loadUserIdentity(const Reader& r, const YAML::Node& item, User& user) {
  if (const YAML::Node groups = item["groups"]) {
    for (const auto& group : r.sequence(groups, "groups")) {
      if (!group.IsScalar() || group.Scalar().empty())
        r.fail(group, "a group must be a non-empty string");
      user.groups.push_back(group.Scalar());
    }
  }
  if (const YAML::Node attributes = item["attributes"]) {
    if (!attributes.IsMap())
      r.fail(attributes, "attributes must be a mapping, like {region: eu, regions: [eu, us]}");
    for (const auto& kv : attributes) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      if (name.empty()) r.fail(kv.first, "an attribute name must be a non-empty string");
      Attribute attribute;
      if (kv.second.IsScalar()) {
        attribute.values.push_back(kv.second.Scalar());
      } else if (kv.second.IsSequence()) {
        attribute.list = true;
        for (const auto& value : kv.second) {
          if (!value.IsScalar()) r.fail(value, "attribute '" + name + "' must hold strings");
          attribute.values.push_back(value.Scalar());
        }
      } else {
        r.fail(kv.second, "attribute '" + name + "' must be a string or a list of strings");
      }
      user.attributes.emplace(name, std::move(attribute));
    }
  }
}

void loadUsers(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "users")) {
    r.expectKeys(item, {"name", "tenant", "role", "scram", "groups", "attributes"}, "a user");
    User user;
    user.name = r.requiredString(item, "name", "a user");
    user.tenant = r.requiredString(item, "tenant", "user '" + user.name + "'");
    user.role = r.requiredString(item, "role", "user '" + user.name + "'");
    // Without `scram` the user can only log in with a client certificate (checked below).
    if (item["scram"])
      user.scram_verifier = r.requiredString(item, "scram", "user '" + user.name + "'");
    if (!policy.isTenant(user.tenant))
      r.fail(item["tenant"], "user '" + user.name + "' names unknown tenant '" + user.tenant + "'");
    if (auto v = protocol::parseScramVerifier(user.scram_verifier); item["scram"] && !v)
      r.fail(item["scram"],
             "user '" + user.name + "': " + v.error() + " (create one with `tenantwall passwd`)");
    definedRole(r, item["role"], policy, "user '" + user.name + "'");
    loadUserIdentity(r, item, user);
    if (policy.users.contains(user.name)) r.fail(item, "duplicate user '" + user.name + "'");
    policy.users.emplace(user.name, std::move(user));
  }
}

// A column's `roles: {admin: allow, viewer: hide, editor: redact}`: per role, plainly (only for
// roles with unmask: true when the column is masked), not at all, or through another mask.
void loadColumnRoles(const Reader& r, const YAML::Node& map, ColumnRule& column,
                     const Policy& policy) {
  if (!map.IsMap())
    r.fail(map, "column '" + column.name + "': roles must map role names to allow, hide or a mask");
  for (const auto& kv : map) {
    const Role& role = definedRole(r, kv.first, policy, "column '" + column.name + "'");
    const std::string value = kv.second.IsScalar() ? kv.second.Scalar() : std::string();
    RoleColumnAccess access;
    if (value == "allow") {
      access.kind = RoleColumnAccess::Kind::kAllow;
      if (column.mask && !role.unmask)
        r.fail(kv.second, "role '" + role.name + "' cannot see masked column '" + column.name +
                              "' plainly: only roles with unmask: true can be allowed it");
    } else if (value == "hide") {
      access.kind = RoleColumnAccess::Kind::kHide;
    } else if (auto mask = maskKindFromName(value)) {
      access.kind = RoleColumnAccess::Kind::kMask;
      access.mask = mask;
    } else {
      r.fail(kv.second, "unknown column access '" + value +
                            "' (expected allow, hide or a mask: email, phone, ssn, redact, hash)");
    }
    column.role_access.insert_or_assign(role.name, access);
  }
}

// A table's `rules:` list: [{roles: [viewer], where: "region = principal.attributes.region"}].
void loadRowRules(const Reader& r, const YAML::Node& list, ProtectedTable& table,
                  const Policy& policy) {
  std::set<std::string> columns = {table.tenant_column};
  for (const ColumnRule& column : table.columns) columns.insert(column.name);
  for (const auto& item : r.sequence(list, "rules")) {
    r.expectKeys(item, {"roles", "where"}, "a row rule");
    RowRule rule;
    rule.where = r.requiredString(item, "where", "a row rule");
    if (const YAML::Node roles = item["roles"]) {
      for (const auto& name : r.sequence(roles, "a row rule's roles"))
        rule.roles.push_back(definedRole(r, name, policy, "a row rule").name);
      if (rule.roles.empty())
        r.fail(roles,
               "a row rule's roles must not be empty (leave it out "
               "to apply the rule to every role)");
    }
    auto compiled = sql::compileRowRule(rule.where, columns);
    if (!compiled) r.fail(item["where"], "row rule of " + table.name + ": " + compiled.error());
    rule.compiled = std::move(compiled->rule);
    rule.columns = std::move(compiled->columns);
    rule.position = positionOf(item["where"]);
    table.rules.push_back(std::move(rule));
  }
}

// Every role must see some column of every table: a role view with none would be a relation of
// zero columns whose rows could still be counted.
void checkRoleColumns(const Reader& r, const YAML::Node& at, const ProtectedTable& table,
                      const Policy& policy) {
  for (const auto& [name, role] : policy.roles) {
    const bool sees = std::ranges::any_of(table.columns, [&](const ColumnRule& c) {
      const auto it = c.role_access.find(name);
      return it == c.role_access.end() || it->second.kind != RoleColumnAccess::Kind::kHide;
    });
    if (!sees) r.fail(at, "role '" + name + "' would see no column of " + table.name);
  }
}

ColumnRule loadColumn(const Reader& r, const YAML::Node& item, const Policy& policy) {
  if (item.IsScalar()) return ColumnRule{item.Scalar(), std::nullopt};
  r.expectKeys(item, {"name", "mask", "roles", "pii"}, "a column");
  ColumnRule column{r.requiredString(item, "name", "a column"), std::nullopt};
  if (item["mask"]) {
    const std::string kind = r.requiredString(item, "mask", "column '" + column.name + "'");
    column.mask = maskKindFromName(kind);
    if (!column.mask)
      r.fail(item["mask"],
             "unknown mask '" + kind + "' (expected email, phone, ssn, redact, hash)");
  }
  if (item["roles"]) loadColumnRoles(r, item["roles"], column, policy);
  // `pii: none` opts the column out of PII auto-detection (policy/pii_masks.h).
  if (const YAML::Node pii = item["pii"]) {
    if (!pii.IsScalar() || pii.Scalar() != "none")
      r.fail(pii, "column '" + column.name +
                      "': pii must be 'none' (it opts the column out of PII auto-detection)");
    column.pii_opt_out = true;
  }
  return column;
}

void loadProtectedTables(const Reader& r, const YAML::Node& list, Policy& policy) {
  for (const auto& item : r.sequence(list, "protected_tables")) {
    r.expectKeys(item, {"table", "tenant_column", "columns", "rules"}, "a protected table");
    if (!item["table"]) r.fail(item, "a protected table needs 'table'");
    auto [schema, name] = r.qualifiedName(item["table"]);
    ProtectedTable table{
        schema, name, r.requiredString(item, "tenant_column", schema + "." + name), {}};
    if (!item["columns"])
      r.fail(item, "protected table " + schema + "." + name + " needs 'columns'");
    std::set<std::string> seen;
    const std::string key = schema + "." + name;
    policy.positions[key] = positionOf(item["table"]);
    policy.positions[key + "." + table.tenant_column] = positionOf(item["tenant_column"]);
    for (const auto& c : r.sequence(item["columns"], "columns")) {
      ColumnRule column = loadColumn(r, c, policy);
      if (!seen.insert(column.name).second) r.fail(c, "duplicate column '" + column.name + "'");
      const bool masked_for_some =
          column.mask || std::ranges::any_of(column.role_access, [](const auto& access) {
            return access.second.kind == RoleColumnAccess::Kind::kMask;
          });
      if (column.name == table.tenant_column && masked_for_some)
        r.fail(c, "the tenant column '" + column.name + "' cannot be masked");
      policy.positions[key + "." + column.name] = positionOf(c);
      table.columns.push_back(std::move(column));
    }
    if (table.columns.empty()) r.fail(item["columns"], "a protected table needs visible columns");
    checkRoleColumns(r, item["columns"], table, policy);
    if (item["rules"]) loadRowRules(r, item["rules"], table, policy);
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
    policy.positions[key] = positionOf(item);
  }
}

// The `jwt` section: bearer tokens, their key set (read now, relative to the policy file) and
// how their claims become a principal.
std::vector<std::string> stringList(const Reader& r, const YAML::Node& node,
                                    std::string_view what) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else {
    for (const auto& item : r.sequence(node, what)) {
      if (!item.IsScalar()) r.fail(item, std::string(what) + " must hold strings");
      out.push_back(item.Scalar());
    }
  }
  if (out.empty() || std::find(out.begin(), out.end(), "") != out.end())
    r.fail(node, std::string(what) + " must be a non-empty string or list of them");
  return out;
}

std::shared_ptr<const JwkSet> loadJwks(const Reader& r, const YAML::Node& node, std::string& path,
                                       const std::string& source) {
  if (std::filesystem::path(path).is_relative())
    path = (std::filesystem::path(source).parent_path() / path).lexically_normal().string();
  std::ifstream in(path, std::ios::binary);
  if (!in) r.fail(node, "jwt.jwks_file: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  auto set = parseJwkSet(text.str());
  if (!set) r.fail(node, "jwt.jwks_file '" + path + "': " + set.error());
  return std::make_shared<const JwkSet>(std::move(*set));
}

void loadJwtClaims(const Reader& r, const YAML::Node& claims, JwtConfig& jwt) {
  r.expectKeys(claims, {"tenant", "user", "groups", "attributes"}, "jwt.claims");
  jwt.tenant_claim = r.requiredString(claims, "tenant", "jwt.claims");
  if (claims["user"]) jwt.user_claim = r.requiredString(claims, "user", "jwt.claims");
  if (claims["groups"]) jwt.groups_claim = r.requiredString(claims, "groups", "jwt.claims");
  if (const YAML::Node attributes = claims["attributes"]) {
    if (!attributes.IsMap()) r.fail(attributes, "jwt.claims.attributes must be a mapping");
    for (const auto& kv : attributes) {
      const std::string name = kv.first.as<std::string>();
      if (!kv.second.IsScalar() || kv.second.Scalar().empty())
        r.fail(kv.second, "jwt.claims.attributes." + name + " must name a claim");
      jwt.attribute_claims.emplace(name, kv.second.Scalar());
    }
  }
}

JwtAlgorithm loadJwtAlgorithm(const Reader& r, const YAML::Node& item) {
  const std::string name = item.IsScalar() ? item.Scalar() : std::string();
  const auto algorithm = jwtAlgorithmFromName(name);
  if (!algorithm)
    r.fail(item, "algorithm '" + name + "' is not supported (RS256, ES256, HS256)" +
                     (name == "none" ? "; unsigned tokens are never accepted" : ""));
  return *algorithm;
}

void loadJwt(const Reader& r, const YAML::Node& node, const std::string& source, Policy& policy) {
  r.expectKeys(node,
               {"startup_user", "jwks_file", "issuer", "audience", "algorithms", "leeway_seconds",
                "claims", "roles"},
               "jwt");
  JwtConfig jwt;
  if (node["startup_user"]) jwt.startup_user = r.requiredString(node, "startup_user", "jwt");
  if (policy.findUser(jwt.startup_user))
    r.fail(node["startup_user"] ? node["startup_user"] : node,
           "jwt.startup_user '" + jwt.startup_user +
               "' is also a static user; token logins need a name of their own");
  jwt.jwks_file = r.requiredString(node, "jwks_file", "jwt");
  jwt.issuer = r.requiredString(node, "issuer", "jwt");
  if (!node["audience"]) r.fail(node, "jwt needs 'audience'");
  jwt.audiences = stringList(r, node["audience"], "jwt.audience");
  if (!node["algorithms"]) r.fail(node, "jwt needs 'algorithms', like [RS256, ES256]");
  for (const auto& item : r.sequence(node["algorithms"], "jwt.algorithms")) {
    const JwtAlgorithm algorithm = loadJwtAlgorithm(r, item);
    if (std::find(jwt.algorithms.begin(), jwt.algorithms.end(), algorithm) != jwt.algorithms.end())
      r.fail(item, "duplicate algorithm '" + item.Scalar() + "'");
    jwt.algorithms.push_back(algorithm);
  }
  if (jwt.algorithms.empty()) r.fail(node["algorithms"], "jwt.algorithms is empty");
  if (const YAML::Node leeway = node["leeway_seconds"]) {
    const auto seconds = leeway.as<long long>();
    if (seconds < 0 || seconds > 300) r.fail(leeway, "jwt.leeway_seconds must be 0 to 300");
    jwt.leeway_seconds = seconds;
  }
  if (!node["claims"]) r.fail(node, "jwt needs 'claims' (at least claims.tenant)");
  loadJwtClaims(r, node["claims"], jwt);
  if (!node["roles"])
    r.fail(node, "jwt needs 'roles' (a token whose groups map to no role is refused)");
  for (const auto& item : r.sequence(node["roles"], "jwt.roles")) {
    r.expectKeys(item, {"group", "role"}, "a jwt.roles entry");
    JwtRoleMapping mapping{r.requiredString(item, "group", "a jwt.roles entry"),
                           r.requiredString(item, "role", "a jwt.roles entry")};
    for (const auto& seen : jwt.roles)
      if (seen.group == mapping.group) r.fail(item, "duplicate group '" + mapping.group + "'");
    jwt.roles.push_back(std::move(mapping));
  }
  if (jwt.roles.empty()) r.fail(node["roles"], "jwt.roles is empty");
  jwt.keys = loadJwks(r, node["jwks_file"], jwt.jwks_file, source);
  policy.jwt = std::move(jwt);
}

// Every role a token can be given must be defined.
void checkJwtRoles(const Reader& r, const YAML::Node& jwt, const Policy& policy) {
  for (const auto& item : jwt["roles"]) definedRole(r, item["role"], policy, "a jwt.roles entry");
}

// The `certificates` section: verified client certificates that log in as policy users
// (policy/certificate_map.h). Runs after the users are known.
void loadCertificates(const Reader& r, const YAML::Node& list, Policy& policy) {
  constexpr CertificateField kFields[] = {CertificateField::kSubject, CertificateField::kSanDns,
                                          CertificateField::kSanEmail, CertificateField::kSanUri};
  for (const auto& item : r.sequence(list, "certificates")) {
    r.expectKeys(item, {"subject", "san_dns", "san_email", "san_uri", "user"},
                 "a certificates entry");
    CertificateMapping mapping;
    int fields = 0;
    for (const CertificateField field : kFields) {
      const std::string key(certificateFieldName(field));
      if (!item[key]) continue;
      ++fields;
      mapping.field = field;
      mapping.value = r.requiredString(item, key.c_str(), "a certificates entry");
    }
    if (fields != 1)
      r.fail(item,
             "a certificates entry needs exactly one of subject, san_dns, san_email, san_uri");
    if (mapping.field == CertificateField::kSubject) {
      auto subject = normalizeSubject(mapping.value);
      if (!subject)
        r.fail(item["subject"], "subject '" + mapping.value +
                                    "' is not an RFC 2253 name like \"CN=alice,O=Acme\" (see "
                                    "`openssl x509 -noout -subject -nameopt RFC2253`)");
      mapping.value = std::move(*subject);
    }
    mapping.user = r.requiredString(item, "user", "a certificates entry");
    if (!policy.findUser(mapping.user))
      r.fail(item["user"], "certificates entry names unknown user '" + mapping.user + "'");
    for (const auto& seen : policy.certificates)
      if (seen.field == mapping.field && seen.value == mapping.value && seen.user == mapping.user)
        r.fail(item, "duplicate certificates entry for user '" + mapping.user + "'");
    policy.certificates.push_back(std::move(mapping));
  }
}

// A user without a SCRAM verifier must be reachable through a certificate.
void checkCertificateOnlyUsers(const Reader& r, const YAML::Node& users, const Policy& policy) {
  for (const auto& item : users) {
    if (item["scram"]) continue;
    const std::string name = item["name"].Scalar();
    const bool mapped = std::ranges::any_of(
        policy.certificates, [&](const CertificateMapping& m) { return m.user == name; });
    if (!mapped)
      r.fail(item, "user '" + name +
                       "' needs 'scram' (create one with `tenantwall passwd`) or a "
                       "certificates entry");
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
  if (const auto problem = findYamlProblem(root)) {
    throw PolicyLoadError(source + ":" + std::to_string(problem->mark.line + 1) + ":" +
                          std::to_string(problem->mark.column + 1) + ": " + problem->message);
  }

  auto policy = std::make_shared<Policy>();
  policy->source = source;
  policy->hash = sha256Hex(yaml_text);
  policy->version = version;
  try {
    // Inside the try: a key that is itself a sequence or map fails its string conversion.
    r.expectKeys(root,
                 {"tenants", "roles", "users", "protected_tables", "reference_tables", "jwt",
                  "shared_datasets", "author", "certificates"},
                 "the policy");
    if (!root["tenants"]) r.fail(root, "the policy needs 'tenants'");
    loadTenants(r, root["tenants"], *policy);
    loadRoles(r, root["roles"], *policy);
    if (root["users"]) loadUsers(r, root["users"], *policy);
    if (root["protected_tables"]) loadProtectedTables(r, root["protected_tables"], *policy);
    if (root["reference_tables"]) loadReferenceTables(r, root["reference_tables"], *policy);
    if (root["jwt"]) loadJwt(r, root["jwt"], source, *policy);
    if (root["jwt"]) checkJwtRoles(r, root["jwt"], *policy);
    if (root["certificates"]) loadCertificates(r, root["certificates"], *policy);
    if (root["users"]) checkCertificateOnlyUsers(r, root["users"], *policy);
    if (root["shared_datasets"]) loadSharedDatasets(root["shared_datasets"], source, *policy);
    if (root["author"]) policy->author = r.requiredString(root, "author", "the policy");
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
