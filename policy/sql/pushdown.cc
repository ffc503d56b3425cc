#include "policy/sql/pushdown.h"

#include <optional>
#include <string>
#include <vector>

#include "policy/sql/fence_columns.h"
#include "policy/sql/nodes.h"

namespace tenantwall::policy::sql {
namespace {

// A fence made by the rewriter (fencedTable): its WHERE is the tenant filter plus whatever was
// pushed down before.
struct Fence {
  pg_query::SelectStmt* select = nullptr;
  const ProtectedTable* table = nullptr;
  std::string alias;
  // On the nullable side of an outer join: its rows may reach the WHERE null-extended.
  bool nullable = false;
};

std::optional<Fence> asFence(pg_query::Node& item, const Policy& policy) {
  if (!item.has_range_subselect()) return std::nullopt;
  auto& range = *item.mutable_range_subselect();
  const ProtectedTable* table = fencedTable(range, policy);
  if (table == nullptr) return std::nullopt;
  return Fence{range.mutable_subquery()->mutable_select_stmt(), table, range.alias().aliasname()};
}

// Fences among the FROM items, through joins (a strict conjunct of the WHERE may be copied to
// either side of any join: rows it would remove from a join's output never survive the WHERE).
void collectFences(pg_query::Node& item, const Policy& policy, bool nullable,
                   std::vector<Fence>& out) {
  if (auto fence = asFence(item, policy)) {
    fence->nullable = nullable;
    out.push_back(*fence);
  } else if (item.has_join_expr()) {
    auto& join = *item.mutable_join_expr();
    if (join.has_alias()) return;  // columns then belong to the join's alias, not the fence
    const auto type = join.jointype();
    const bool left_kept = type == pg_query::JOIN_INNER || type == pg_query::JOIN_LEFT;
    const bool right_kept = type == pg_query::JOIN_INNER || type == pg_query::JOIN_RIGHT;
    if (join.has_larg()) collectFences(*join.mutable_larg(), policy, nullable || !left_kept, out);
    if (join.has_rarg()) collectFences(*join.mutable_rarg(), policy, nullable || !right_kept, out);
  }
}

bool isComparable(const pg_query::Node& value) {
  if (value.has_param_ref()) return true;
  if (!value.has_a_const() || value.a_const().isnull()) return false;
  const auto& constant = value.a_const();
  return constant.has_ival() || constant.has_sval();
}

bool isEqualityName(const NodeList& name) {
  const auto names = stringNames(name);
  if (!names) return false;
  if (names->size() == 2) return (*names)[0] == "pg_catalog" && (*names)[1] == "=";
  return names->size() == 1 && (*names)[0] == "=";
}

// The fence and column a conjunct's column side names, when it is one of `fences`.
struct Target {
  const Fence* fence = nullptr;
  const ColumnRule* column = nullptr;
};

std::optional<Target> targetOf(const pg_query::Node& node, const std::vector<Fence>& fences,
                               bool only_item) {
  if (!node.has_column_ref()) return std::nullopt;
  const auto names = stringNames(node.column_ref().fields());
  if (!names || names->empty() || names->size() > 2) return std::nullopt;
  const Fence* fence = nullptr;
  if (names->size() == 2) {
    for (const Fence& f : fences)
      if (f.alias == (*names)[0]) fence = &f;
  } else if (only_item && fences.size() == 1) {
    fence = &fences.front();  // the select's one FROM item: an unqualified name is its column
  }
  if (fence == nullptr) return std::nullopt;
  const ColumnRule* column = fence->table->findColumn(names->back());
  // The tenant column too: the fence already implies `tenant_id = <own tenant>` (another
  // tenant's id was refused before the rewrite), but left outside it costs every row a second
  // test and keeps a Subquery Scan; inside, PostgreSQL merges the duplicate.
  if (column == nullptr || column->mask || !column->leakproof_equality) return std::nullopt;
  return Target{fence, column};
}

void addToFence(const Fence& fence, pg_query::Node condition) {
  auto& where = *fence.select->mutable_where_clause();
  if (where.has_bool_expr() && where.bool_expr().boolop() == pg_query::AND_EXPR) {
    *where.mutable_bool_expr()->add_args() = std::move(condition);
    return;
  }
  pg_query::Node both;
  auto* conjunction = both.mutable_bool_expr();
  conjunction->set_boolop(pg_query::AND_EXPR);
  *conjunction->add_args() = std::move(where);
  *conjunction->add_args() = std::move(condition);
  where = std::move(both);
}

// `column = value`, `value = column` or `column IN (values)`, copied for the fence. True when
// the conjunct has nothing left to do in the WHERE: every row the fence yields satisfies it,
// and no null-extended row of the fence reaches the WHERE.
bool pushConjunct(const pg_query::Node& conjunct, const std::vector<Fence>& fences,
                  bool only_item) {
  if (!conjunct.has_a_expr()) return false;
  const auto& expr = conjunct.a_expr();
  if (!isEqualityName(expr.name()) || !expr.has_lexpr() || !expr.has_rexpr()) return false;
  std::optional<Target> target;
  pg_query::Node value;
  if (expr.kind() == pg_query::AEXPR_OP) {
    if ((target = targetOf(expr.lexpr(), fences, only_item)) && isComparable(expr.rexpr())) {
      value = expr.rexpr();
    } else if ((target = targetOf(expr.rexpr(), fences, only_item)) && isComparable(expr.lexpr())) {
      value = expr.lexpr();
    } else {
      return false;
    }
  } else if (expr.kind() == pg_query::AEXPR_IN) {
    target = targetOf(expr.lexpr(), fences, only_item);
    if (!target || !expr.rexpr().has_list() || expr.rexpr().list().items_size() == 0) return false;
    for (const auto& item : expr.rexpr().list().items())
      if (!isComparable(item)) return false;
    value = expr.rexpr();
  } else {
    return false;
  }
  const ProtectedTable& table = *target->fence->table;
  pg_query::Node copy;
  auto* condition = copy.mutable_a_expr();
  condition->set_kind(expr.kind());
  *condition->add_name() = stringNode("pg_catalog");
  *condition->add_name() = stringNode("=");
  *condition->mutable_lexpr() = columnRef({table.schema, table.name, target->column->name});
  *condition->mutable_rexpr() = std::move(value);
  if (expr.kind() == pg_query::AEXPR_IN) {
    condition->clear_name();
    *condition->add_name() = stringNode("=");  // IN keeps its keyword spelling
  }
  addToFence(*target->fence, std::move(copy));
  return !target->fence->nullable;
}

}  // namespace

void pushDownEqualities(pg_query::SelectStmt& select, const Policy& policy) {
  if (!select.has_where_clause()) return;
  std::vector<Fence> fences;
  for (auto& item : *select.mutable_from_clause()) collectFences(item, policy, false, fences);
  if (fences.empty()) return;
  const bool only_item =
      select.from_clause_size() == 1 && select.from_clause(0).has_range_subselect();
  pg_query::Node& where = *select.mutable_where_clause();
  if (!where.has_bool_expr() || where.bool_expr().boolop() != pg_query::AND_EXPR) {
    if (pushConjunct(where, fences, only_item)) select.clear_where_clause();
    return;
  }
  // PostgreSQL would evaluate a moved conjunct twice per row; only what still filters stays.
  auto& args = *where.mutable_bool_expr()->mutable_args();
  NodeList kept;
  for (auto& conjunct : args)
    if (!pushConjunct(conjunct, fences, only_item)) *kept.Add() = std::move(conjunct);
  if (kept.empty()) {
    select.clear_where_clause();
  } else if (kept.size() == 1) {
    pg_query::Node only = std::move(kept[0]);
    where = std::move(only);
  } else {
    args.Swap(&kept);
  }
}

}  // namespace tenantwall::policy::sql
