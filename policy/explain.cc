// explainDecision(): decide() plus the rules behind the answer, rendered for people and tools.
#include "policy/explain.h"

#include <nlohmann/json.hpp>

#include "policy/engine.h"

namespace tenantwall::policy {
namespace {

std::string joined(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : separator).append(item);
  return out;
}

std::string rowRules(const ProtectedTable& table) {
  std::string out;
  for (const auto& rule : table.rules) out += "; row rule: " + rule.where;
  return out;
}

// Which policy rule let the statement touch relation, in words.
std::string ruleFor(const std::string& relation, const Principal& principal, const Policy& policy) {
  if (auto it = policy.protected_tables.find(relation); it != policy.protected_tables.end()) {
    const ProtectedTable& table = it->second;
    std::vector<std::string> visible;
    std::vector<std::string> masked;
    for (const auto& column : table.columns) {
      if (column.mask)
        masked.push_back(column.name + " (" + std::string(maskKindName(*column.mask)) + ")");
      else
        visible.push_back(column.name);
    }
    return "protected_tables[" + relation + "]: only rows where " + table.tenant_column + " = '" +
           principal.tenant + "'; columns " + joined(visible) +
           (masked.empty() ? "" : "; masked " + joined(masked)) + "; every other column hidden" +
           rowRules(table);
  }
  if (policy.reference_tables.contains(relation))
    return "reference_tables[" + relation + "]: shared by every tenant, read-only";
  if (auto it = policy.shared_datasets.find(relation); it != policy.shared_datasets.end()) {
    const SharedDataset& set = it->second;
    return "shared_datasets[" + relation + "]: aggregates only, over the rows of opted-in " +
           "tenants " + joined(set.opt_in) + "; every reported group (and every finest cell " +
           "it pools) has >= " + std::to_string(set.min_tenants) +
           " tenants and >= " + std::to_string(set.min_rows) + " rows";
  }
  if (relation.starts_with("pg_catalog.") || relation.starts_with("information_schema."))
    return "catalog " + relation + ": fenced to the tables and columns this policy shows";
  return "relation " + relation;
}

}  // namespace

std::expected<Principal, std::string> principalFor(const Policy& policy, std::string_view user,
                                                   std::string_view tenant, std::string_view role) {
  Principal principal;
  principal.user = std::string(user);
  if (const User* known = policy.findUser(user)) {
    principal = principalOf(*known);
  } else if (tenant.empty() || role.empty()) {
    return std::unexpected("'" + std::string(user) +
                           "' is not a static user of the policy; give its tenant and role too");
  }
  if (!tenant.empty()) principal.tenant = std::string(tenant);
  if (!role.empty()) principal.role = std::string(role);
  if (!policy.isTenant(principal.tenant))
    return std::unexpected("tenant '" + principal.tenant + "' is not known to the policy");
  return principal;
}

Explanation explainDecision(const Principal& principal, std::string_view sql,
                            const Policy& policy) {
  Explanation out;
  out.principal = principal;
  out.sql = std::string(sql);
  out.policy_version = policy.version;
  out.policy_sha256 = policy.hash;
  Decision decision = decide(principal, sql, policy);
  if (!decision) {
    out.error = decision.error();
    out.rules.push_back("refused: " + out.error.message +
                        (out.error.hint.empty() ? "" : " (" + out.error.hint + ")"));
    return out;
  }
  out.allowed = true;
  out.rewritten_sql = decision->sql;
  out.statement_kinds = decision->statement_kinds;
  out.relations = decision->relations;
  const Policy* view = policy.forRole(principal.role);  // decide() succeeded: it exists
  if (!principal.role.empty())
    out.rules.push_back("role " + principal.role + ": its statement kinds, columns and row rules");
  for (const auto& relation : out.relations)
    out.rules.push_back(ruleFor(relation, principal, view ? *view : policy));
  if (out.relations.empty() && !out.statement_kinds.empty())
    out.rules.push_back("statement kinds " + joined(out.statement_kinds) +
                        " are on the allowlist and touch no table");
  return out;
}

std::string explanationJson(const Explanation& e) {
  nlohmann::ordered_json j;
  j["decision"] = e.allowed ? "allow" : "deny";
  j["principal"] = {
      {"user", e.principal.user}, {"tenant", e.principal.tenant}, {"role", e.principal.role}};
  j["sql"] = e.sql;
  j["rewritten_sql"] = e.allowed ? nlohmann::ordered_json(e.rewritten_sql) : nullptr;
  j["statement_kinds"] = e.statement_kinds;
  j["relations"] = e.relations;
  j["sqlstate"] =
      e.allowed ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.error.sqlstate);
  j["message"] =
      e.allowed ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.error.message);
  j["hint"] = e.allowed || e.error.hint.empty() ? nlohmann::ordered_json(nullptr)
                                                : nlohmann::ordered_json(e.error.hint);
  j["rules"] = e.rules;
  j["policy"] = {{"version", e.policy_version}, {"sha256", e.policy_sha256}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string explanationText(const Explanation& e) {
  std::string out = "principal: " + e.principal.user + " (tenant " + e.principal.tenant +
                    ", role " + e.principal.role + ")\n";
  out += "decision:  " + std::string(e.allowed ? "ALLOW" : "DENY") + "\n";
  if (e.allowed) {
    out += "kinds:     " + joined(e.statement_kinds) + "\n";
    out += "rewritten: " + e.rewritten_sql + "\n";
  } else {
    out += "sqlstate:  " + e.error.sqlstate + "\n";
    out += "message:   " + e.error.message + "\n";
    if (!e.error.hint.empty()) out += "hint:      " + e.error.hint + "\n";
  }
  for (const auto& rule : e.rules) out += "rule:      " + rule + "\n";
  out += "policy:    version " + std::to_string(e.policy_version) + ", sha256 " + e.policy_sha256 +
         "\n";
  return out;
}

}  // namespace tenantwall::policy
