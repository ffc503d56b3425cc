// Recording of column-versus-constant comparisons and the cross-tenant check over them.
#include "policy/sql/tenant_guard.h"

#include <optional>
#include <set>

#include "policy/sql/nodes.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

// Casts and collations do not change which tenant a value names.
const pg_query::Node& unwrap(const pg_query::Node& node) {
  if (node.has_type_cast() && node.type_cast().has_arg()) return unwrap(node.type_cast().arg());
  if (node.has_collate_clause() && node.collate_clause().has_arg())
    return unwrap(node.collate_clause().arg());
  return node;
}

std::optional<std::vector<std::string>> columnNames(const pg_query::Node& node) {
  const pg_query::Node& inner = unwrap(node);
  if (!inner.has_column_ref()) return std::nullopt;
  return stringNames(inner.column_ref().fields());
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '"')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '"')) text.remove_suffix(1);
  return std::string(text);
}

// Elements of an array literal such as '{acme,"globex"}'; best effort, enough to name intent.
void splitArrayLiteral(std::string_view text, std::vector<std::string>& out) {
  text.remove_prefix(1);
  text.remove_suffix(1);
  while (true) {
    const auto comma = text.find(',');
    out.push_back(trimmed(text.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    text.remove_prefix(comma + 1);
  }
}

void collectConstants(const pg_query::Node& node, bool array_values,
                      std::vector<std::string>& out) {
  const pg_query::Node& inner = unwrap(node);
  if (inner.has_a_const()) {
    const auto& c = inner.a_const();
    if (c.isnull()) return;
    if (c.has_sval()) {
      const std::string& s = c.sval().sval();
      if (array_values && s.size() >= 2 && s.front() == '{' && s.back() == '}') {
        splitArrayLiteral(s, out);
      } else {
        out.push_back(s);
      }
    } else if (c.has_ival()) {
      out.push_back(std::to_string(c.ival().ival()));
    } else if (c.has_fval()) {
      out.push_back(c.fval().fval());
    }
    return;
  }
  if (inner.has_list()) {
    for (const auto& item : inner.list().items()) collectConstants(item, false, out);
  } else if (inner.has_a_array_expr()) {
    for (const auto& item : inner.a_array_expr().elements()) collectConstants(item, false, out);
  }
}

}  // namespace

void TenantGuard::noteTable(const std::string& alias, const ProtectedTable& table) {
  aliases_.emplace(alias, &table);
}

void TenantGuard::noteComparison(const pg_query::A_Expr& expr) {
  const auto names = stringNames(expr.name());
  const std::string op = names && !names->empty() ? names->back() : std::string();
  const bool equality = op == "=" || op == "<>";
  if (!expr.has_lexpr() || !expr.has_rexpr()) return;
  switch (expr.kind()) {
    case pg_query::AEXPR_OP:
      if (!equality) return;
      [[fallthrough]];
    case pg_query::AEXPR_DISTINCT:
    case pg_query::AEXPR_NOT_DISTINCT:
      consider(expr.lexpr(), expr.rexpr(), false);
      consider(expr.rexpr(), expr.lexpr(), false);
      return;
    case pg_query::AEXPR_OP_ANY:
    case pg_query::AEXPR_OP_ALL:
      if (equality) consider(expr.lexpr(), expr.rexpr(), true);
      return;
    case pg_query::AEXPR_IN:
      consider(expr.lexpr(), expr.rexpr(), false);
      return;
    default:
      return;
  }
}

void TenantGuard::consider(const pg_query::Node& column_side, const pg_query::Node& value_side,
                           bool array_values) {
  auto column = columnNames(column_side);
  if (!column || column->empty()) return;
  std::vector<std::string> constants;
  collectConstants(value_side, array_values, constants);
  if (!constants.empty()) comparisons_.push_back({std::move(*column), std::move(constants)});
}

std::expected<void, protocol::PgError> TenantGuard::check(std::string_view tenant) const {
  std::set<std::string_view> tenant_columns;
  for (const auto& [alias, table] : aliases_) tenant_columns.insert(table->tenant_column);

  for (const Comparison& cmp : comparisons_) {
    const std::string& column = cmp.column.back();
    bool is_tenant_column = tenant_columns.contains(column);
    if (cmp.column.size() >= 2) {
      const auto [first, last] = aliases_.equal_range(cmp.column[cmp.column.size() - 2]);
      if (first != last) {
        is_tenant_column = false;
        for (auto it = first; it != last; ++it)
          is_tenant_column = is_tenant_column || it->second->tenant_column == column;
      }
    }
    if (!is_tenant_column) continue;
    for (const std::string& value : cmp.constants) {
      if (value == tenant) continue;
      return std::unexpected(protocol::makeError(
          protocol::sqlstate::kInsufficientPrivilege,
          "cross-tenant reference: tenant '" + value + "' is outside your tenant",
          "every statement is limited to your own tenant's rows; remove the condition on " +
              column));
    }
  }
  return {};
}

}  // namespace tenantwall::policy::sql
