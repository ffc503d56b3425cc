// Roles (issue 6): which statement kinds a role may run, how it sees each column of a protected
// table (plainly, masked, or not at all) and which row rules narrow its rows inside its tenant.
// No role reaches another tenant: roles only ever take away from the tenant's slice, and the
// `unmask` capability only lifts masks where a column rule grants it.
//
// The rewriter never looks at roles directly: decide() hands it the principal's role view, a
// copy of the policy whose protected tables list exactly the role's visible columns (with the
// role's masks) and the role's row rules, so every existing rule of the rewriter (`*`, catalogs,
// Describe, writes, pushdown) follows the role without knowing about it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/pg_error.h"

namespace tenantwall::policy {

struct Policy;
struct Principal;
enum class MaskKind;

namespace sql {
struct RuleTemplate;  // policy/sql/row_rules.h: a parsed `where`, principal references open
}

// The statement kinds a role may be allowed; session statements (BEGIN, SET, SHOW, cursors,
// PREPARE bodies aside) are open to every role. COPY ... TO is a select.
enum class StatementKind { kSelect, kInsert, kUpdate, kDelete, kCopyFrom };

std::optional<StatementKind> statementKindFromName(std::string_view name);
std::string_view statementKindName(StatementKind kind);

struct Role {
  std::string name;
  std::set<StatementKind> statements;
  // May see a masked column plainly where that column's rule says `allow` for the role.
  bool unmask = false;
  // May write columns it sees masked (data entry without reading back); otherwise a write to a
  // column the role does not see plainly is refused.
  bool write_masked = false;
};

// owner, admin, editor and viewer, as they are when a policy does not define them.
std::map<std::string, Role> defaultRoles();

// How one role sees a column, in place of the column's default (its mask, or plainly).
struct RoleColumnAccess {
  enum class Kind { kAllow, kMask, kHide };
  Kind kind = Kind::kAllow;
  std::optional<MaskKind> mask;  // kMask only
};

// Where something was written in the policy file (1-based), for errors found after loading.
struct SourcePosition {
  int line = 0;
  int column = 0;
};

// A row rule of a protected table: for the roles named (all roles when none are), only rows
// for which `where` is true exist. Several rules for one role must all hold.
struct RowRule {
  std::vector<std::string> roles;  // empty: every role
  std::string where;               // as written in the policy
  std::shared_ptr<const sql::RuleTemplate> compiled;
  std::set<std::string> columns;  // the table columns it reads
  SourcePosition position;

  bool appliesTo(std::string_view role) const;
};

// The role views of one policy snapshot, built on first use. A copy of a policy (re-annotated
// by the proxy, or edited in a test) starts with no views and builds its own, so a view never
// lags behind the policy it was made from.
class RoleViews {
 public:
  RoleViews() = default;
  RoleViews(const RoleViews&) : RoleViews() {}
  RoleViews& operator=(const RoleViews&) {
    state_ = std::make_unique<State>();
    return *this;
  }
  RoleViews(RoleViews&&) noexcept = default;
  RoleViews& operator=(RoleViews&&) noexcept = default;

  // The view of `base` for role, or nullptr when base defines no such role.
  const Policy* get(const Policy& base, std::string_view role) const;

 private:
  struct State {
    std::once_flag built;
    std::map<std::string, std::shared_ptr<const Policy>, std::less<>> views;
  };
  std::unique_ptr<State> state_ = std::make_unique<State>();
};

// The policy as `role` sees it (see the top of this file). Role must be one of policy.roles.
std::shared_ptr<const Policy> buildRoleView(const Policy& policy, const Role& role);

// The refusal for a statement kind the principal's role may not run, or nullopt.
std::optional<protocol::PgError> checkStatementKind(const Policy& policy,
                                                    const Principal& principal, StatementKind kind);

}  // namespace tenantwall::policy
