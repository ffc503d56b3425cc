// Recording of column-versus-constant comparisons and the cross-tenant check over them.
#include "policy/sql/tenant_guard.h"

#include <algorithm>
#include <optional>
#include <utility>

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

// The parameters ($n) among the values a column is compared with: a parameter itself, or in a
// list or ARRAY[...].
void collectParameters(const pg_query::Node& node, std::vector<int>& out) {
  const pg_query::Node& inner = unwrap(node);
  if (inner.has_param_ref()) {
    out.push_back(inner.param_ref().number());
  } else if (inner.has_list()) {
    for (const auto& item : inner.list().items()) collectParameters(item, out);
  } else if (inner.has_a_array_expr()) {
    for (const auto& item : inner.a_array_expr().elements()) collectParameters(item, out);
  }
}

// The columns a subquery returns and, for plain column references, which column each copies.
// nullopt when that cannot be told from the target list (`*`, set operations, VALUES).
std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>> outputsOf(
    const pg_query::SelectStmt& select) {
  if (select.op() != pg_query::SETOP_NONE || select.target_list_size() == 0) return std::nullopt;
  std::vector<std::pair<std::string, std::vector<std::string>>> outputs;
  for (const auto& target : select.target_list()) {
    if (!target.has_res_target()) return std::nullopt;
    const auto& res = target.res_target();
    const pg_query::Node& value = unwrap(res.val());
    if (value.has_column_ref()) {
      auto names = stringNames(value.column_ref().fields());
      if (!names || names->empty()) return std::nullopt;  // t.* and *
      outputs.emplace_back(res.name().empty() ? names->back() : res.name(), std::move(*names));
    } else {
      outputs.emplace_back(res.name(), std::vector<std::string>{});
    }
  }
  return outputs;
}

// Applies a column alias list (`AS c(a, b)`) to the first columns.
std::string renamed(const pg_query::Alias* alias, std::size_t index, const std::string& name) {
  if (alias == nullptr || index >= static_cast<std::size_t>(alias->colnames_size())) return name;
  const auto& colname = alias->colnames(static_cast<int>(index));
  return colname.has_string() ? colname.string().sval() : name;
}

constexpr int kMaxTraceDepth = 64;

}  // namespace

int TenantGuard::enterLevel() {
  const int enclosing = current_;
  levels_.push_back({enclosing, {}});
  current_ = static_cast<int>(levels_.size()) - 1;
  return enclosing;
}

void TenantGuard::leaveLevel(int enclosing) { current_ = enclosing; }

void TenantGuard::noteProtected(const pg_query::Alias* alias, const ProtectedTable& table) {
  Item item{Kind::kProtected, alias != nullptr ? alias->aliasname() : table.name};
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    item.columns.push_back(renamed(alias, i, table.columns[i].name));
    if (table.columns[i].name == table.tenant_column) item.tenant_column = item.columns.back();
  }
  tenant_columns_.push_back(table.tenant_column);
  if (!item.tenant_column.empty()) tenant_columns_.push_back(item.tenant_column);
  if (current_ >= 0) levels_[current_].items.push_back(std::move(item));
}

void TenantGuard::noteShared(std::string alias) {
  if (current_ >= 0) levels_[current_].items.push_back({Kind::kShared, std::move(alias)});
}

void TenantGuard::noteOpaque(std::string alias) {
  if (current_ >= 0) levels_[current_].items.push_back({Kind::kOpaque, std::move(alias)});
}

void TenantGuard::noteSubquery(const pg_query::Alias& alias, int level,
                               const pg_query::SelectStmt& select) {
  Item item{Kind::kSubquery, alias.aliasname()};
  item.level = level;
  if (auto outputs = outputsOf(select)) {
    item.outputs.emplace();
    for (std::size_t i = 0; i < outputs->size(); ++i) {
      auto& [name, source] = (*outputs)[i];
      item.outputs->push_back({renamed(&alias, i, name), std::move(source)});
    }
  }
  if (current_ >= 0) levels_[current_].items.push_back(std::move(item));
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
  std::vector<int> parameters;
  collectParameters(value_side, parameters);
  if (!constants.empty() || !parameters.empty())
    comparisons_.push_back(
        {current_, std::move(*column), std::move(constants), std::move(parameters)});
}

std::vector<int> TenantGuard::tenantParameters() const {
  std::vector<int> out;
  for (const Comparison& cmp : comparisons_) {
    if (cmp.parameters.empty()) continue;
    Verdict verdict = resolve(cmp.column, cmp.level, 0);
    if (verdict == Verdict::kUnknown) {
      verdict = std::ranges::find(tenant_columns_, cmp.column.back()) != tenant_columns_.end()
                    ? Verdict::kTenant
                    : Verdict::kNotTenant;
    }
    if (verdict != Verdict::kTenant) continue;
    for (int parameter : cmp.parameters)
      if (std::ranges::find(out, parameter) == out.end()) out.push_back(parameter);
  }
  return out;
}

void TenantGuard::noteColumn(const pg_query::ColumnRef& ref) {
  auto names = stringNames(ref.fields());  // nullopt for c.*, which names no attribute
  if (names && names->size() >= 2) attributes_.push_back({current_, std::move(*names)});
}

void TenantGuard::noteIndirection(const pg_query::A_Indirection& indirection) {
  if (!indirection.has_arg() || !indirection.arg().has_column_ref()) return;
  if (indirection.indirection_size() == 0 || !indirection.indirection(0).has_string()) return;
  auto names = stringNames(indirection.arg().column_ref().fields());
  if (!names || names->size() != 1) return;
  names->push_back(indirection.indirection(0).string().sval());
  attributes_.push_back({current_, std::move(*names)});
}

const TenantGuard::Item* TenantGuard::findQualifier(const std::string& qualifier, int level) const {
  for (int l = level; l >= 0 && l < static_cast<int>(levels_.size()); l = levels_[l].parent) {
    for (const Item& item : levels_[l].items) {
      if (item.alias == qualifier) return &item;
    }
  }
  return nullptr;
}

TenantGuard::Verdict TenantGuard::fromItem(const Item& item, const std::string& column,
                                           int depth) const {
  switch (item.kind) {
    case Kind::kProtected:
      return column == item.tenant_column ? Verdict::kTenant : Verdict::kNotTenant;
    case Kind::kShared:
      return Verdict::kNotTenant;
    case Kind::kOpaque:
      return Verdict::kUnknown;
    case Kind::kSubquery:
      break;
  }
  if (!item.outputs) return Verdict::kUnknown;
  for (const Output& output : *item.outputs) {
    if (output.name != column) continue;
    if (output.source.empty()) return Verdict::kNotTenant;  // an expression, not a column
    return resolve(output.source, item.level, depth + 1);
  }
  return Verdict::kUnknown;
}

TenantGuard::Verdict TenantGuard::resolve(const std::vector<std::string>& column, int level,
                                          int depth) const {
  if (column.empty() || depth > kMaxTraceDepth) return Verdict::kUnknown;
  const std::string& name = column.back();
  for (int l = level; l >= 0 && l < static_cast<int>(levels_.size()); l = levels_[l].parent) {
    if (column.size() >= 2) {
      const Item* item = findQualifier(column[column.size() - 2], l);
      return item != nullptr ? fromItem(*item, name, depth) : Verdict::kUnknown;
    }
    // Unqualified: the first level with an item that has the column owns it.
    bool unknown_here = false;
    for (const Item& item : levels_[l].items) {
      if (item.kind == Kind::kProtected) {
        if (std::ranges::find(item.columns, name) != item.columns.end())
          return fromItem(item, name, depth);
      } else if (item.kind == Kind::kSubquery && item.outputs) {
        if (std::ranges::any_of(*item.outputs, [&](const Output& o) { return o.name == name; }))
          return fromItem(item, name, depth);
      } else {
        unknown_here = true;
      }
    }
    if (unknown_here) return Verdict::kUnknown;
  }
  return Verdict::kUnknown;
}

std::expected<void, protocol::PgError> TenantGuard::check(std::string_view tenant) const {
  for (const Attribute& attribute : attributes_) {
    const Item* item = findQualifier(attribute.names[attribute.names.size() - 2], attribute.level);
    if (item == nullptr || item->kind != Kind::kProtected) continue;
    if (std::ranges::find(item->columns, attribute.names.back()) != item->columns.end()) continue;
    return std::unexpected(protocol::makeError(
        protocol::sqlstate::kInsufficientPrivilege,
        "column " + item->alias + "." + attribute.names.back() +
            " is not visible under the tenantwall policy",
        "the columns of " + item->alias + " are the visible columns its policy lists"));
  }
  for (const Comparison& cmp : comparisons_) {
    const std::string& column = cmp.column.back();
    Verdict verdict = resolve(cmp.column, cmp.level, 0);
    if (verdict == Verdict::kUnknown) {
      verdict = std::ranges::find(tenant_columns_, column) != tenant_columns_.end()
                    ? Verdict::kTenant
                    : Verdict::kNotTenant;
    }
    if (verdict != Verdict::kTenant) continue;
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
