// k-anonymous aggregates: the shape check of a statement over a shared dataset and its rewrite
// (see shared_aggregate.h for the rules and why they hold).
#include "policy/sql/shared_aggregate.h"

#include <algorithm>
#include <functional>
#include <set>
#include <string_view>
#include <utility>

#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;

constexpr std::string_view kDefaultSchema = "public";
constexpr std::string_view kTenantAlias = "tenantwall_tenant";
constexpr std::string_view kOptInPlaceholder = "tenantwall_opt_in";

PgError refusal(const SharedDataset& set, std::string message, std::string hint = {}) {
  if (hint.empty()) {
    hint = "shared dataset " + set.qualifiedName() +
           " answers only aggregates: SELECT <dimensions>, count(*), sum(<measure>) FROM " +
           set.name + " GROUP BY <dimensions>";
  }
  return protocol::makeError(protocol::sqlstate::kInsufficientPrivilege, std::move(message),
                             std::move(hint));
}

// Calls f on every message below (and including) root, through every message field.
void forEachMessage(Message& root, const std::function<void(Message&)>& f) {
  f(root);
  const auto* reflection = root.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(root, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(root, field); ++i)
        forEachMessage(*reflection->MutableRepeatedMessage(&root, field, i), f);
    } else {
      forEachMessage(*reflection->MutableMessage(&root, field), f);
    }
  }
}

const SharedDataset* datasetOf(const pg_query::RangeVar& relation, const Policy& policy) {
  if (!relation.catalogname().empty()) return nullptr;
  const std::string schema =
      relation.schemaname().empty() ? std::string(kDefaultSchema) : relation.schemaname();
  return policy.findShared(schema, relation.relname());
}

std::string quoteIdent(std::string_view name) {
  std::string out = "\"";
  for (const char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// The statement checker: one dataset, one alias, the dimensions grouped by.
class Checker {
 public:
  Checker(const SharedDataset& set, std::string alias) : set_(set), alias_(std::move(alias)) {}

  std::expected<void, PgError> check(pg_query::SelectStmt& select);

 private:
  std::expected<std::string, PgError> columnOf(const pg_query::ColumnRef& ref) const;
  std::expected<std::string, PgError> dimension(const pg_query::ColumnRef& ref) const;
  std::expected<void, PgError> aggregate(pg_query::FuncCall& call) const;
  std::expected<void, PgError> filter(pg_query::Node& node) const;
  std::expected<void, PgError> filterOperand(const pg_query::Node& node) const;
  std::expected<void, PgError> groupBy(pg_query::SelectStmt& select);
  std::expected<void, PgError> targets(pg_query::SelectStmt& select);
  std::expected<void, PgError> orderBy(pg_query::SelectStmt& select) const;
  std::expected<void, PgError> limit(const pg_query::Node& node) const;

  const SharedDataset& set_;
  std::string alias_;
  std::set<std::string> grouped_;
  std::vector<std::string> selected_dimensions_;
  std::vector<std::optional<std::string>> target_dimensions_;  // per select-list position
  std::set<std::string> output_names_;                         // select-list aliases
  bool has_aggregate_ = false;
};

std::expected<std::string, PgError> Checker::columnOf(const pg_query::ColumnRef& ref) const {
  for (const auto& field : ref.fields()) {
    if (field.has_a_star()) {
      return std::unexpected(refusal(
          set_, "raw rows of shared dataset " + set_.qualifiedName() + " are never returned"));
    }
  }
  const auto names = stringNames(ref.fields());
  if (!names || names->empty() || names->size() > 2 ||
      (names->size() == 2 && (*names)[0] != alias_)) {
    return std::unexpected(refusal(set_, "column reference " + (names ? dotted(*names) : "") +
                                             " is not a column of shared dataset " +
                                             set_.qualifiedName()));
  }
  const std::string& column = names->back();
  if (column == set_.tenant_column) {
    return std::unexpected(
        refusal(set_,
                "the tenant column of shared dataset " + set_.qualifiedName() +
                    " cannot be selected, grouped or filtered on",
                "aggregates over a shared dataset never single out a tenant; group by dimensions"));
  }
  if (!set_.isDimension(column) && !set_.findMeasure(column)) {
    std::string dims;
    for (const auto& d : set_.dimensions) dims.append(dims.empty() ? "" : ", ").append(d);
    return std::unexpected(refusal(set_,
                                   "column " + column + " of shared dataset " +
                                       set_.qualifiedName() +
                                       " is not shared: identifiers and raw values are never "
                                       "returned",
                                   "the dimensions are: " + dims));
  }
  return column;
}

std::expected<std::string, PgError> Checker::dimension(const pg_query::ColumnRef& ref) const {
  auto column = columnOf(ref);
  if (!column) return column;
  if (!set_.isDimension(*column)) {
    return std::unexpected(refusal(set_, "column " + *column + " of shared dataset " +
                                             set_.qualifiedName() +
                                             " is an amount: it may only be read through an "
                                             "allowed aggregate, never as a raw value or filter"));
  }
  return column;
}

std::expected<void, PgError> Checker::aggregate(pg_query::FuncCall& call) const {
  const auto names = stringNames(call.funcname());
  const bool qualified_ok =
      names && (names->size() == 1 || (names->size() == 2 && (*names)[0] == "pg_catalog"));
  const auto kind = qualified_ok ? aggregateKindFromName(names->back()) : std::nullopt;
  const std::string written = names ? dotted(*names) : std::string("(unnamed)");
  if (!kind) {
    return std::unexpected(refusal(
        set_, "function " + written + " is not allowed on shared dataset " + set_.qualifiedName(),
        "allowed aggregates are count, sum and avg (min and max would reveal one tenant's "
        "value)"));
  }
  if (call.agg_order_size() > 0 || call.has_agg_filter() || call.has_over() ||
      call.agg_within_group() || call.agg_distinct() || call.func_variadic()) {
    return std::unexpected(refusal(set_, "aggregate " + written + " on shared dataset " +
                                             set_.qualifiedName() +
                                             " may not use DISTINCT, FILTER, ORDER BY or OVER"));
  }
  if (names->size() == 1) prependName(*call.mutable_funcname(), "pg_catalog");
  if (call.agg_star()) {
    if (*kind != AggregateKind::kCount)
      return std::unexpected(refusal(set_, written + "(*) is not an aggregate"));
    return {};
  }
  if (call.args_size() != 1 || !call.args(0).has_column_ref()) {
    return std::unexpected(refusal(
        set_, "aggregates on shared dataset " + set_.qualifiedName() + " take one plain column"));
  }
  auto column = columnOf(call.args(0).column_ref());
  if (!column) return std::unexpected(column.error());
  if (set_.isDimension(*column)) {
    if (*kind == AggregateKind::kCount) return {};
    return std::unexpected(refusal(set_, "only count may be applied to dimension " + *column));
  }
  const SharedMeasure* measure = set_.findMeasure(*column);
  if (std::ranges::find(measure->aggregates, *kind) == measure->aggregates.end()) {
    std::string allowed;
    for (const auto k : measure->aggregates)
      allowed.append(allowed.empty() ? "" : ", ").append(aggregateKindName(k));
    return std::unexpected(
        refusal(set_, std::string(aggregateKindName(*kind)) + " of " + *column + " is not allowed",
                "allowed on " + *column + ": " + allowed));
  }
  return {};
}

std::expected<void, PgError> Checker::filterOperand(const pg_query::Node& node) const {
  if (node.has_a_const() || node.has_param_ref()) return {};
  if (node.has_column_ref()) {
    auto column = dimension(node.column_ref());
    if (!column) return std::unexpected(column.error());
    return {};
  }
  if (node.has_list()) {
    for (const auto& item : node.list().items()) {
      if (!item.has_a_const() && !item.has_param_ref())
        return std::unexpected(refusal(set_, "IN lists on a shared dataset hold constants only"));
    }
    return {};
  }
  return std::unexpected(refusal(
      set_,
      "filters on shared dataset " + set_.qualifiedName() +
          " may only compare dimension columns with constants",
      "a filter on anything else (amounts, identifiers, expressions, subqueries) could single "
      "out a tenant"));
}

std::expected<void, PgError> Checker::filter(pg_query::Node& node) const {
  if (node.has_bool_expr()) {
    for (auto& arg : *node.mutable_bool_expr()->mutable_args())
      if (auto s = filter(arg); !s) return s;
    return {};
  }
  if (node.has_null_test()) return filterOperand(node.null_test().arg());
  if (node.has_a_expr()) {
    auto& expr = *node.mutable_a_expr();
    static constexpr std::string_view kOperators[] = {"=",  "<>", "<",   "<=",  ">",
                                                      ">=", "~~", "!~~", "~~*", "!~~*"};
    const auto names = stringNames(expr.name());
    const bool simple_kind =
        expr.kind() == pg_query::AEXPR_OP || expr.kind() == pg_query::AEXPR_IN ||
        expr.kind() == pg_query::AEXPR_LIKE || expr.kind() == pg_query::AEXPR_ILIKE ||
        expr.kind() == pg_query::AEXPR_BETWEEN || expr.kind() == pg_query::AEXPR_NOT_BETWEEN;
    const bool between =
        expr.kind() == pg_query::AEXPR_BETWEEN || expr.kind() == pg_query::AEXPR_NOT_BETWEEN;
    if (!simple_kind || !names || names->size() != 1 ||
        (!between && std::ranges::find(kOperators, (*names)[0]) == std::end(kOperators))) {
      return std::unexpected(refusal(set_, "filters on shared dataset " + set_.qualifiedName() +
                                               " may use =, <>, <, <=, >, >=, IN, LIKE and "
                                               "BETWEEN only"));
    }
    if (!expr.has_lexpr() || !expr.has_rexpr())
      return std::unexpected(refusal(set_, "incomplete comparison"));
    if (auto s = filterOperand(expr.lexpr()); !s) return s;
    if (auto s = filterOperand(expr.rexpr()); !s) return s;
    // Keyword forms (IN, LIKE, BETWEEN) keep their one-part name: the deparser prints the
    // keyword, so only a plain operator is qualified.
    if (expr.kind() == pg_query::AEXPR_OP) prependName(*expr.mutable_name(), "pg_catalog");
    return {};
  }
  return filterOperand(node);
}

std::expected<void, PgError> Checker::targets(pg_query::SelectStmt& select) {
  if (select.target_list_size() == 0)
    return std::unexpected(refusal(set_, "a query of a shared dataset must select aggregates"));
  for (auto& item : *select.mutable_target_list()) {
    if (!item.has_res_target() || item.res_target().indirection_size() > 0 ||
        !item.res_target().has_val())
      return std::unexpected(refusal(set_, "unsupported select list item"));
    if (!item.res_target().name().empty()) output_names_.insert(item.res_target().name());
    auto& value = *item.mutable_res_target()->mutable_val();
    if (value.has_column_ref()) {
      auto column = dimension(value.column_ref());
      if (!column) return std::unexpected(column.error());
      selected_dimensions_.push_back(*column);
      target_dimensions_.push_back(*column);
    } else if (value.has_func_call()) {
      if (auto s = aggregate(*value.mutable_func_call()); !s) return s;
      has_aggregate_ = true;
      target_dimensions_.push_back(std::nullopt);
    } else {
      return std::unexpected(
          refusal(set_,
                  "only dimension columns and count, sum or avg of allowed columns may be "
                  "selected from shared dataset " +
                      set_.qualifiedName()));
    }
  }
  return {};
}

std::expected<void, PgError> Checker::groupBy(pg_query::SelectStmt& select) {
  if (select.group_distinct())
    return std::unexpected(refusal(set_, "GROUP BY DISTINCT is not supported here"));
  for (const auto& item : select.group_clause()) {
    if (item.has_column_ref()) {
      auto column = dimension(item.column_ref());
      if (!column) return std::unexpected(column.error());
      grouped_.insert(*column);
      continue;
    }
    if (item.has_a_const() && item.a_const().has_ival()) {
      const int position = item.a_const().ival().ival();
      if (position >= 1 && position <= static_cast<int>(target_dimensions_.size()) &&
          target_dimensions_[position - 1]) {
        grouped_.insert(*target_dimensions_[position - 1]);
        continue;
      }
    }
    return std::unexpected(
        refusal(set_, "GROUP BY on shared dataset " + set_.qualifiedName() +
                          " may name dimension columns (or their select-list positions) only"));
  }
  for (const auto& column : selected_dimensions_) {
    if (!grouped_.contains(column)) {
      return std::unexpected(
          refusal(set_, "dimension " + column +
                            " is selected but not grouped by: raw rows of shared "
                            "dataset " +
                            set_.qualifiedName() + " are never returned"));
    }
  }
  if (!has_aggregate_ && grouped_.empty()) {
    return std::unexpected(refusal(
        set_, "raw rows of shared dataset " + set_.qualifiedName() + " are never returned"));
  }
  return {};
}

std::expected<void, PgError> Checker::orderBy(pg_query::SelectStmt& select) const {
  for (auto& item : *select.mutable_sort_clause()) {
    if (!item.has_sort_by() || item.sort_by().use_op_size() > 0 || !item.sort_by().has_node())
      return std::unexpected(refusal(set_, "unsupported ORDER BY item"));
    auto& node = *item.mutable_sort_by()->mutable_node();
    if (node.has_a_const() && node.a_const().has_ival()) continue;
    if (node.has_column_ref()) {
      const auto names = stringNames(node.column_ref().fields());
      if (names && names->size() == 1 && output_names_.contains((*names)[0])) continue;
      auto column = columnOf(node.column_ref());
      if (!column) return std::unexpected(column.error());
      // An output name (an alias of the select list) or a grouped dimension.
      if (grouped_.contains(*column)) continue;
      return std::unexpected(refusal(set_, "ORDER BY may name grouped dimensions only"));
    }
    if (node.has_func_call()) {
      if (auto s = aggregate(*node.mutable_func_call()); !s) return s;
      continue;
    }
    return std::unexpected(refusal(set_, "unsupported ORDER BY item on a shared dataset"));
  }
  return {};
}

std::expected<void, PgError> Checker::limit(const pg_query::Node& node) const {
  if (node.has_a_const() || node.has_param_ref()) return {};
  return std::unexpected(refusal(set_, "LIMIT and OFFSET take constants only"));
}

std::expected<void, PgError> Checker::check(pg_query::SelectStmt& select) {
  if (select.op() != pg_query::SETOP_NONE && select.op() != pg_query::SET_OPERATION_UNDEFINED)
    return std::unexpected(refusal(set_, "set operations over a shared dataset are not allowed"));
  if (select.has_with_clause() || select.distinct_clause_size() > 0 || select.has_into_clause() ||
      select.window_clause_size() > 0 || select.values_lists_size() > 0 ||
      select.locking_clause_size() > 0) {
    return std::unexpected(refusal(set_,
                                   "WITH, DISTINCT, INTO, WINDOW and locking clauses are "
                                   "not allowed on shared dataset " +
                                       set_.qualifiedName()));
  }
  if (select.has_having_clause()) {
    return std::unexpected(
        refusal(set_, "HAVING is not allowed on shared dataset " + set_.qualifiedName(),
                "tenantwall adds its own HAVING (the k-anonymity threshold); filter groups in the "
                "client"));
  }
  if (select.limit_option() == pg_query::LIMIT_OPTION_WITH_TIES)
    return std::unexpected(refusal(set_, "FETCH ... WITH TIES is not supported here"));
  if (auto s = targets(select); !s) return s;
  if (auto s = groupBy(select); !s) return s;
  if (select.has_where_clause()) {
    if (auto s = filter(*select.mutable_where_clause()); !s) return s;
  }
  if (auto s = orderBy(select); !s) return s;
  if (select.has_limit_count()) {
    if (auto s = limit(select.limit_count()); !s) return s;
  }
  if (select.has_limit_offset()) {
    if (auto s = limit(select.limit_offset()); !s) return s;
  }
  return {};
}

// The fence and the HAVING guard as SQL text built from policy names only (quoted), parsed
// once per decision; the opted-in tenants enter afterwards as constant nodes.
std::string fenceText(const SharedDataset& set) {
  const std::string table = quoteIdent(set.schema) + "." + quoteIdent(set.name);
  const std::string tenant = quoteIdent(set.tenant_column);
  std::string dimensions;
  for (const auto& d : set.dimensions)
    dimensions.append(dimensions.empty() ? "" : ", ") += quoteIdent(d);
  std::string columns = dimensions;
  for (const auto& m : set.measures) columns += ", " + quoteIdent(m.column);
  const std::string in_opt_in = tenant + " IN (" + std::string(kOptInPlaceholder) + ")";
  return "SELECT " + columns + ", " + tenant + " AS " + std::string(kTenantAlias) + " FROM " +
         table + " WHERE " + in_opt_in + " AND (" + dimensions + ") IN (SELECT " + dimensions +
         " FROM " + table + " WHERE " + in_opt_in + " GROUP BY " + dimensions +
         " HAVING pg_catalog.count(DISTINCT " + tenant + ") OPERATOR(pg_catalog.>=) " +
         std::to_string(set.min_tenants) + " AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) " +
         std::to_string(set.min_rows) + ") OFFSET 0";
}

std::string havingText(const SharedDataset& set) {
  return "SELECT 1 HAVING pg_catalog.count(DISTINCT " + std::string(kTenantAlias) +
         ") OPERATOR(pg_catalog.>=) " + std::to_string(set.min_tenants) +
         " AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) " + std::to_string(set.min_rows);
}

std::expected<pg_query::SelectStmt, PgError> parseSelect(const std::string& text) {
  auto tree = parse(text);
  if (!tree) return std::unexpected(tree.error());
  if (tree->stmts_size() != 1 || !tree->stmts(0).stmt().has_select_stmt())
    return std::unexpected(protocol::makeError(protocol::sqlstate::kInternalError,
                                               "shared dataset template did not parse"));
  return tree->stmts(0).stmt().select_stmt();
}

// Replaces each `x IN (tenantwall_opt_in)` list with the opted-in tenants as constants.
void fillOptIn(pg_query::SelectStmt& fence, const SharedDataset& set) {
  forEachMessage(fence, [&](Message& message) {
    auto* expr = dynamic_cast<pg_query::A_Expr*>(&message);
    if (!expr || expr->kind() != pg_query::AEXPR_IN || !expr->rexpr().has_list()) return;
    auto& items = *expr->mutable_rexpr()->mutable_list()->mutable_items();
    if (items.size() != 1 || !items[0].has_column_ref()) return;
    const auto names = stringNames(items[0].column_ref().fields());
    if (!names || names->size() != 1 || (*names)[0] != kOptInPlaceholder) return;
    items.Clear();
    for (const auto& tenant : set.opt_in) *items.Add() = stringConst(tenant);
  });
}

}  // namespace

std::optional<std::expected<std::vector<std::string>, PgError>> rewriteSharedAggregate(
    pg_query::Node& statement, const Principal& principal, const Policy& policy) {
  if (policy.shared_datasets.empty()) return std::nullopt;
  const SharedDataset* named = nullptr;
  forEachMessage(statement, [&](Message& message) {
    if (named) return;
    if (const auto* relation = dynamic_cast<const pg_query::RangeVar*>(&message))
      named = datasetOf(*relation, policy);
  });
  if (!named) return std::nullopt;
  const SharedDataset& set = *named;
  using Result = std::expected<std::vector<std::string>, PgError>;

  if (!set.optedIn(principal.tenant)) {
    return Result(std::unexpected(
        refusal(set,
                "tenant '" + principal.tenant + "' has not opted in to shared dataset " +
                    set.qualifiedName(),
                "only tenants that share their own rows may query the pooled aggregates")));
  }
  if (!statement.has_select_stmt()) {
    return Result(std::unexpected(refusal(
        set, "shared dataset " + set.qualifiedName() + " can only be read, as aggregates")));
  }
  auto& select = *statement.mutable_select_stmt();
  if (select.from_clause_size() != 1 || !select.from_clause(0).has_range_var() ||
      datasetOf(select.from_clause(0).range_var(), policy) != named) {
    return Result(std::unexpected(refusal(
        set, "shared dataset " + set.qualifiedName() +
                 " must be queried alone: no joins, subqueries or other tables in the statement")));
  }
  const auto& relation = select.from_clause(0).range_var();
  if (relation.has_alias() && relation.alias().colnames_size() > 0)
    return Result(std::unexpected(refusal(set, "column aliases on the dataset are not allowed")));
  const std::string alias = relation.has_alias() ? relation.alias().aliasname() : set.name;

  Checker checker(set, alias);
  if (auto s = checker.check(select); !s) return Result(std::unexpected(s.error()));

  auto fence = parseSelect(fenceText(set));
  if (!fence) return Result(std::unexpected(fence.error()));
  fillOptIn(*fence, set);
  auto having = parseSelect(havingText(set));
  if (!having) return Result(std::unexpected(having.error()));

  pg_query::Node subselect;
  auto* range = subselect.mutable_range_subselect();
  *range->mutable_subquery()->mutable_select_stmt() = std::move(*fence);
  range->mutable_alias()->set_aliasname(alias);
  *select.mutable_from_clause(0) = std::move(subselect);
  *select.mutable_having_clause() = having->having_clause();
  return Result(std::vector<std::string>{set.qualifiedName()});
}

}  // namespace tenantwall::policy::sql
