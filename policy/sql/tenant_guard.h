// Column checks that need the whole statement's scopes, run after the rewrite walk:
// - cross-tenant intent (DESIGN decision 4): a comparison of a tenant column with a constant
//   other than the principal's own tenant is refused, not silently answered with nothing;
// - attribute notation on a secured relation: `c.x` where c is a protected table and x is not
//   one of its visible columns is refused, because PostgreSQL would read it as the function
//   call x(c), outside the function allowlist (and for a hidden column it fails anyway).
// The fence is the boundary; these checks make hostile or mistaken queries visible, so where
// a column cannot be resolved they err towards refusing.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

class TenantGuard {
 public:
  // Query levels, mirroring SQL scoping: the rewriter opens one for every SELECT it enters.
  // enterLevel returns the enclosing level, to be handed back to leaveLevel.
  int enterLevel();
  void leaveLevel(int enclosing);
  // The index the next enterLevel will get (the level of a subquery about to be walked).
  int nextLevel() const { return static_cast<int>(levels_.size()); }

  // FROM items of the current level, by the name columns are qualified with.
  void noteProtected(const pg_query::Alias* alias, const ProtectedTable& table);
  // A reference table or a function: its columns carry no tenant id.
  void noteShared(std::string alias);
  // A CTE reference or an aliased join: its columns are unknown here.
  void noteOpaque(std::string alias);
  // A subquery in FROM whose own level is `level`; its simple output columns are traced back.
  void noteSubquery(const pg_query::Alias& alias, int level, const pg_query::SelectStmt& select);

  // Records expr, at the current level, if it compares a column with constants: =, <>,
  // IN (...), = ANY / <> ALL (ARRAY[...] or an array literal), IS [NOT] DISTINCT FROM.
  void noteComparison(const pg_query::A_Expr& expr);
  // Records a qualified column reference (`c.x`, `s.c.x`) at the current level.
  void noteColumn(const pg_query::ColumnRef& ref);
  // Records `(c).x`, which PostgreSQL resolves like c.x.
  void noteIndirection(const pg_query::A_Indirection& indirection);

  // Refuses (42501) when a recorded comparison puts a constant other than tenant against the
  // tenant column of a protected table. Columns are resolved through the levels like
  // PostgreSQL does; one that cannot be resolved counts as a tenant column when its last name
  // is the tenant column of any protected table of the statement.
  // Also refuses (42501) a qualified reference to something a protected table does not show.
  std::expected<void, protocol::PgError> check(std::string_view tenant) const;

  // The parameters ($n, 1-based) compared with a tenant column (resolved as check() does): their
  // bound values must be the principal's tenant, which the proxy checks at Bind.
  std::vector<int> tenantParameters() const;

 private:
  enum class Kind { kProtected, kShared, kOpaque, kSubquery };
  enum class Verdict { kTenant, kNotTenant, kUnknown };

  struct Output {
    std::string name;
    std::vector<std::string> source;  // the column it copies, empty for an expression
  };
  struct Item {
    Kind kind;
    std::string alias;
    std::vector<std::string> columns;  // kProtected: visible columns, after column aliases
    std::string tenant_column;         // kProtected: its name after column aliases ("" hidden)
    int level = -1;                    // kSubquery: the subquery's own level
    std::optional<std::vector<Output>> outputs;  // kSubquery: nullopt when not traceable
  };
  struct Level {
    int parent;
    std::vector<Item> items;
  };
  struct Comparison {
    int level;
    std::vector<std::string> column;
    std::vector<std::string> constants;
    std::vector<int> parameters;  // $n compared with the column, checked at Bind
  };

  void consider(const pg_query::Node& column_side, const pg_query::Node& value_side,
                bool array_values);
  Verdict resolve(const std::vector<std::string>& column, int level, int depth) const;
  Verdict fromItem(const Item& item, const std::string& column, int depth) const;
  const Item* findQualifier(const std::string& qualifier, int level) const;

  std::vector<Level> levels_;
  int current_ = -1;
  struct Attribute {
    int level;
    std::vector<std::string> names;  // qualifier(s) and the attribute
  };

  std::vector<Comparison> comparisons_;
  std::vector<Attribute> attributes_;
  std::vector<std::string> tenant_columns_;  // of every protected table used, for the fallback
};

}  // namespace tenantwall::policy::sql
