// Role definitions, role views of a policy, and the statement-kind check.
#include "policy/roles.h"

#include <algorithm>
#include <array>
#include <utility>

#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

struct KindName {
  StatementKind kind;
  std::string_view name;       // as written in the policy
  std::string_view statement;  // as a person reads it in a refusal
};

constexpr std::array<KindName, 5> kKinds{{
    {StatementKind::kSelect, "select", "SELECT"},
    {StatementKind::kInsert, "insert", "INSERT"},
    {StatementKind::kUpdate, "update", "UPDATE"},
    {StatementKind::kDelete, "delete", "DELETE"},
    {StatementKind::kCopyFrom, "copy_from", "COPY ... FROM"},
}};

const KindName& entry(StatementKind kind) {
  return *std::ranges::find(kKinds, kind, &KindName::kind);
}

Role role(std::string name, std::initializer_list<StatementKind> statements, bool unmask) {
  return Role{std::move(name), std::set<StatementKind>(statements), unmask, false};
}

}  // namespace

std::optional<StatementKind> statementKindFromName(std::string_view name) {
  const auto* it = std::ranges::find(kKinds, name, &KindName::name);
  if (it == kKinds.end()) return std::nullopt;
  return it->kind;
}

std::string_view statementKindName(StatementKind kind) { return entry(kind).name; }

std::map<std::string, Role> defaultRoles() {
  using enum StatementKind;
  std::map<std::string, Role> roles;
  for (Role r : {role("viewer", {kSelect}, false),
                 role("editor", {kSelect, kInsert, kUpdate, kDelete, kCopyFrom}, false),
                 role("admin", {kSelect, kInsert, kUpdate, kDelete, kCopyFrom}, true),
                 role("owner", {kSelect, kInsert, kUpdate, kDelete, kCopyFrom}, true)})
    roles.emplace(r.name, std::move(r));
  return roles;
}

bool RowRule::appliesTo(std::string_view role) const {
  return roles.empty() || std::ranges::find(roles, role) != roles.end();
}

std::shared_ptr<const Policy> buildRoleView(const Policy& policy, const Role& role) {
  auto view = std::make_shared<Policy>(policy);
  for (auto& [key, table] : view->protected_tables) {
    std::vector<ColumnRule> columns;
    for (const ColumnRule& base : table.columns) {
      ColumnRule column = base;
      column.role_access.clear();
      if (const auto it = base.role_access.find(role.name); it != base.role_access.end()) {
        switch (it->second.kind) {
          case RoleColumnAccess::Kind::kHide:
            continue;
          case RoleColumnAccess::Kind::kAllow:
            column.mask.reset();
            break;
          case RoleColumnAccess::Kind::kMask:
            column.mask = it->second.mask;
            break;
        }
      }
      column.writable = !column.mask || role.write_masked;
      columns.push_back(std::move(column));
    }
    table.columns = std::move(columns);
    std::erase_if(table.rules, [&](const RowRule& rule) { return !rule.appliesTo(role.name); });
  }
  return view;
}

const Policy* RoleViews::get(const Policy& base, std::string_view role) const {
  if (!state_) return nullptr;
  std::call_once(state_->built, [&] {
    for (const auto& [name, definition] : base.roles)
      state_->views.emplace(name, buildRoleView(base, definition));
  });
  const auto it = state_->views.find(role);
  return it == state_->views.end() ? nullptr : it->second.get();
}

std::optional<protocol::PgError> checkStatementKind(const Policy& policy,
                                                    const Principal& principal,
                                                    StatementKind kind) {
  const Role* role = policy.findRole(principal.role);
  if (role != nullptr && role->statements.contains(kind)) return std::nullopt;
  std::string may;
  if (role != nullptr) {
    for (const StatementKind k : role->statements)
      may.append(may.empty() ? "" : ", ").append(statementKindName(k));
  }
  return protocol::makeError(protocol::sqlstate::kInsufficientPrivilege,
                             std::string(entry(kind).statement) + " is not allowed for role '" +
                                 principal.role + "' by the tenantwall policy",
                             role == nullptr ? "the role is not defined in the tenantwall policy"
                             : may.empty()
                                 ? "role " + principal.role + " may not run any statement on tables"
                                 : "role " + principal.role + " may run: " + may);
}

}  // namespace tenantwall::policy
