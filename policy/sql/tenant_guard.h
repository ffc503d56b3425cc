// Detects cross-tenant intent (DESIGN decision 4): a comparison of a tenant column with a
// constant other than the principal's own tenant is refused, not silently answered with nothing.
// The fence is the boundary; this guard only makes a hostile or mistaken query visible.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

class TenantGuard {
 public:
  // A protected table is read under this alias (the user's alias or the bare table name).
  void noteTable(const std::string& alias, const ProtectedTable& table);
  // Records expr if it compares a column with constants: =, <>, IN (...), = ANY / <> ALL
  // (ARRAY[...] or an array literal), IS [NOT] DISTINCT FROM. Other expressions are ignored.
  void noteComparison(const pg_query::A_Expr& expr);
  // Refuses (42501) when a recorded comparison puts a constant other than tenant against the
  // tenant column of a protected table of the statement. A qualified column whose qualifier is
  // the alias of a protected table is matched against that table only; any other column is
  // matched by its last name against every protected table used, which errs towards refusing.
  std::expected<void, protocol::PgError> check(std::string_view tenant) const;

 private:
  struct Comparison {
    std::vector<std::string> column;
    std::vector<std::string> constants;
  };

  void consider(const pg_query::Node& column_side, const pg_query::Node& value_side,
                bool array_values);

  std::vector<Comparison> comparisons_;
  std::multimap<std::string, const ProtectedTable*> aliases_;
};

}  // namespace tenantwall::policy::sql
