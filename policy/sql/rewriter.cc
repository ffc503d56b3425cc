// The statement rewriter's skeleton: its table of node kinds, relation resolution against the
// policy and CTE scopes, the fence, and the query-structure handlers. Expression handlers are
// in expression_rules.cc, write handlers in write_rewriter.cc.
#include "policy/sql/rewriter.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "policy/sql/allowlists.h"
#include "policy/sql/fence_columns.h"
#include "policy/sql/masks.h"
#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/pushdown.h"
#include "policy/sql/row_rules.h"
#include "policy/sql/statement_rewriter.h"
#include "policy/sql/tenant_guard.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

}  // namespace

PgError refused(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint));
}

namespace {

PgError relationRefused(const std::string& written) {
  return refused("relation \"" + written + "\" is not allowed by the tenantwall policy",
                 "only the protected and reference tables named in the tenantwall policy, and "
                 "the secured catalogs, can be read; views and other schemas cannot");
}

using Handler = Visit (StatementRewriter::*)(Message&, pg_query::Node*, Walker&);

// Every node kind a SELECT may contain, with the handler that analyses it (nullptr: nothing to
// check beyond its children, which the walker visits). A kind absent from this table is
// refused wherever it appears, so new parser node kinds fail closed.
struct KindRule {
  std::string_view kind;
  Handler handler;
};

constexpr KindRule kKinds[] = {
    {"SelectStmt", &StatementRewriter::onSelect},
    {"CommonTableExpr", &StatementRewriter::onCommonTableExpr},
    {"RangeVar", &StatementRewriter::onRangeVar},
    {"RangeTableSample", &StatementRewriter::onRangeTableSample},
    {"RangeFunction", &StatementRewriter::onRangeFunction},
    {"FuncCall", &StatementRewriter::onFuncCall},
    {"A_Expr", &StatementRewriter::onAExpr},
    {"SubLink", &StatementRewriter::onSubLink},
    {"SortBy", &StatementRewriter::onSortBy},
    {"TypeName", &StatementRewriter::onTypeName},
    {"SQLValueFunction", &StatementRewriter::onSqlValueFunction},
    // Structure and expressions that name no relation, function, type or operator themselves.
    {"RangeSubselect", &StatementRewriter::onRangeSubselect},
    {"JoinExpr", &StatementRewriter::onJoinExpr},
    {"Alias", nullptr},
    {"ResTarget", &StatementRewriter::onResTarget},
    {"ColumnRef", &StatementRewriter::onColumnRef},
    {"A_Star", nullptr},
    {"A_Const", nullptr},
    {"Integer", nullptr},
    {"Float", nullptr},
    {"Boolean", nullptr},
    {"String", nullptr},
    {"BitString", nullptr},
    {"List", nullptr},
    {"ParamRef", nullptr},
    {"TypeCast", &StatementRewriter::onTypeCast},
    {"CollateClause", nullptr},
    {"BoolExpr", nullptr},
    {"NullTest", nullptr},
    {"BooleanTest", nullptr},
    {"CaseExpr", nullptr},
    {"CaseWhen", nullptr},
    {"CoalesceExpr", nullptr},
    {"MinMaxExpr", nullptr},
    {"A_ArrayExpr", nullptr},
    {"A_Indirection", &StatementRewriter::onIndirection},
    {"A_Indices", nullptr},
    {"RowExpr", nullptr},
    {"NamedArgExpr", nullptr},
    {"WindowDef", nullptr},
    {"GroupingSet", nullptr},
    {"GroupingFunc", nullptr},
    {"CTESearchClause", nullptr},
    {"CTECycleClause", nullptr},
    // Writes: only where PostgreSQL accepts them (the statement itself, a CTE body), which
    // their handlers check; the clauses below only ever appear inside them.
    {"InsertStmt", &StatementRewriter::onInsert},
    {"UpdateStmt", &StatementRewriter::onUpdate},
    {"DeleteStmt", &StatementRewriter::onDelete},
    {"SetToDefault", nullptr},
    {"MultiAssignRef", nullptr},
    {"OnConflictClause", nullptr},
    {"InferClause", nullptr},
    {"IndexElem", nullptr},
};

const KindRule* findKind(std::string_view kind) {
  const auto* it = std::ranges::find(kKinds, kind, &KindRule::kind);
  return it == std::end(kKinds) ? nullptr : it;
}

}  // namespace

bool StatementRewriter::knows(std::string_view kind) const { return findKind(kind) != nullptr; }

Visit StatementRewriter::visit(Message& node, pg_query::Node* wrapper, Walker& walker) {
  const KindRule* rule = findKind(node.GetDescriptor()->name());
  if (rule == nullptr) return std::unexpected(unsupportedNode(node.GetDescriptor()->name()));
  if (rule->handler == nullptr) return Next::kChildren;
  return (this->*(rule->handler))(node, wrapper, walker);
}

// ---- scopes and relations ----------------------------------------------------------------

bool StatementRewriter::isCte(std::string_view name) const {
  return std::ranges::any_of(
      ctes_, [&](const auto& scope) { return std::ranges::find(scope, name) != scope.end(); });
}

std::expected<StatementRewriter::Resolved, PgError> StatementRewriter::resolve(
    const pg_query::RangeVar& relation) const {
  std::vector<std::string> written;
  for (const std::string* part : {&relation.catalogname(), &relation.schemaname()})
    if (!part->empty()) written.push_back(*part);
  written.push_back(relation.relname());
  // A database-qualified name could only ever mean this database; nobody needs to write it.
  if (!relation.catalogname().empty()) return std::unexpected(relationRefused(dotted(written)));
  // Only an unqualified name can denote a CTE, exactly as in PostgreSQL.
  if (relation.schemaname().empty() && isCte(relation.relname())) return Resolved{Target::kCte, {}};
  // PostgreSQL looks in pg_catalog before the search path, so an unqualified catalog name
  // means the catalog.
  if (const CatalogRelation* catalog =
          findCatalogRelation(relation.schemaname(), relation.relname()))
    return Resolved{Target::kCatalog, {}, nullptr, catalog};
  if (isCatalogSchema(relation.schemaname()) ||
      (relation.schemaname().empty() && relation.relname().starts_with("pg_"))) {
    return std::unexpected(refused(
        "catalog relation \"" + dotted(written) + "\" is not available under the tenantwall policy",
        "statistics, activity, role and settings catalogs are refused; the catalogs BI tools "
        "read to list tables and columns (pg_class, pg_attribute, information_schema.tables, "
        "information_schema.columns, ...) show your tables"));
  }
  const std::string schema =
      relation.schemaname().empty() ? std::string(kDefaultSchema) : relation.schemaname();
  if (const ProtectedTable* table = policy_.findProtected(schema, relation.relname()))
    return Resolved{Target::kProtected, schema, table};
  if (policy_.isReference(schema, relation.relname())) return Resolved{Target::kReference, schema};
  return std::unexpected(relationRefused(dotted(written)));
}

void StatementRewriter::noteRelation(std::string name) {
  if (std::ranges::find(relations_, name) == relations_.end())
    relations_.push_back(std::move(name));
}

void StatementRewriter::noteTenantParameter(int number) {
  if (std::ranges::find(tenant_parameters_, number) == tenant_parameters_.end())
    tenant_parameters_.push_back(number);
}

// (SELECT <columns> FROM <from_item> WHERE schema.t.tenant_col OPERATOR(pg_catalog.=) '<tenant>'
// OFFSET 0) AS <alias>. OFFSET 0 keeps the planner from pulling the subquery up, so no user
// predicate runs on another tenant's row before the tenant filter (DESIGN decision 2).
std::expected<pg_query::Node, PgError> StatementRewriter::fence(const ProtectedTable& table,
                                                                const pg_query::Alias* alias,
                                                                pg_query::Node from_item) {
  pg_query::Node out;
  auto* subselect = out.mutable_range_subselect();
  auto* select = subselect->mutable_subquery()->mutable_select_stmt();
  for (const ColumnRule& column : table.columns) {
    auto* target = select->add_target_list()->mutable_res_target();
    pg_query::Node ref = columnRef({table.schema, table.name, column.name});
    if (!column.mask) {
      *target->mutable_val() = std::move(ref);
      continue;
    }
    auto masked = maskExpression(*column.mask, ref);
    if (!masked) return std::unexpected(masked.error());
    target->set_name(column.name);
    *target->mutable_val() = std::move(*masked);
  }
  *select->add_from_clause() = std::move(from_item);

  auto* filter = select->mutable_where_clause()->mutable_a_expr();
  filter->set_kind(pg_query::AEXPR_OP);
  *filter->add_name() = stringNode(kCatalog);
  *filter->add_name() = stringNode("=");
  *filter->mutable_lexpr() = columnRef({table.schema, table.name, table.tenant_column});
  *filter->mutable_rexpr() = stringConst(principal_.tenant);  // a constant node, never SQL text
  // The role's row rules (policy/sql/row_rules.h) stand next to the tenant filter, fenced too.
  *select->mutable_where_clause() = withRowRules(std::move(*select->mutable_where_clause()), table,
                                                 principal_, {table.schema, table.name});

  select->mutable_limit_offset()->mutable_a_const()->mutable_ival()->set_ival(0);
  select->set_limit_option(pg_query::LIMIT_OPTION_COUNT);
  select->set_op(pg_query::SETOP_NONE);

  if (alias != nullptr) {
    *subselect->mutable_alias() = *alias;
  } else {
    subselect->mutable_alias()->set_aliasname(table.name);
  }
  guard_.noteProtected(&subselect->alias(), table);
  noteRelation(table.schema + "." + table.name);
  return out;
}

// ---- handlers ----------------------------------------------------------------------------

Visit StatementRewriter::onSelect(Message& node, pg_query::Node*, Walker& walker) {
  auto& select = static_cast<pg_query::SelectStmt&>(node);
  if (select.has_into_clause()) {
    return std::unexpected(refused("SELECT INTO is not allowed by the tenantwall policy",
                                   "it creates a table; tenants cannot create objects"));
  }
  if (select.locking_clause_size() > 0) {
    return std::unexpected(
        refused("SELECT ... FOR UPDATE/SHARE is not allowed by the tenantwall policy",
                "row locks are not available to tenants; remove the FOR UPDATE/SHARE clause"));
  }
  const int enclosing = guard_.enterLevel();
  const std::size_t scope = ctes_.size();
  if (select.has_with_clause()) {
    auto walked = walkWith(*select.mutable_with_clause(), walker);
    if (!walked) return std::unexpected(walked.error());
  }
  if (auto s = walker.walkFields(select, {"with_clause"}); !s) return std::unexpected(s.error());
  pushDownEqualities(select, policy_);
  ctes_.resize(scope);
  guard_.leaveLevel(enclosing);
  return Next::kDone;
}

// WITH scoping as in PostgreSQL: a CTE body sees the CTEs before it in its own WITH list (all
// of them, itself included, under WITH RECURSIVE) and every enclosing WITH; the rest of the
// statement sees the whole list.
std::expected<std::size_t, PgError> StatementRewriter::walkWith(pg_query::WithClause& with,
                                                                Walker& walker) {
  const std::size_t scope = ctes_.size();
  ctes_.emplace_back();
  auto cteName = [](const pg_query::Node& cte) -> std::optional<std::string> {
    if (!cte.has_common_table_expr()) return std::nullopt;
    return cte.common_table_expr().ctename();
  };
  if (with.recursive()) {
    for (const auto& cte : with.ctes()) {
      auto name = cteName(cte);
      if (!name) return std::unexpected(unsupportedNode(nodeKind(cte)));
      ctes_[scope].push_back(std::move(*name));
    }
  }
  for (auto& cte : *with.mutable_ctes()) {
    auto name = cteName(cte);
    if (!name) return std::unexpected(unsupportedNode(nodeKind(cte)));
    if (auto s = walker.walk(cte); !s) return std::unexpected(s.error());
    if (!with.recursive()) ctes_[scope].push_back(std::move(*name));
  }
  return scope;
}

bool StatementRewriter::writeAllowedAt(const pg_query::Node* wrapper) const {
  return wrapper != nullptr && write_places_.contains(wrapper);
}

Visit StatementRewriter::onCommonTableExpr(Message& node, pg_query::Node*, Walker&) {
  auto& cte = static_cast<pg_query::CommonTableExpr&>(node);
  // A data-modifying CTE body gets the same rules as the statement on its own; PostgreSQL
  // itself refuses one anywhere but in the top-level WITH.
  if (cte.has_ctequery()) write_places_.insert(cte.mutable_ctequery());
  return Next::kChildren;
}

Visit StatementRewriter::onRangeVar(Message& node, pg_query::Node* wrapper, Walker& walker) {
  auto& relation = static_cast<pg_query::RangeVar&>(node);
  // In a SELECT a relation only stands as a FROM item, always inside a Node; one in a typed
  // field is something else (SELECT INTO's target) and never reaches here.
  if (wrapper == nullptr) return std::unexpected(unsupportedNode("RangeVar"));
  if (auto s = walker.walkFields(relation); !s) return std::unexpected(s.error());  // its alias
  auto resolved = resolve(relation);
  if (!resolved) return std::unexpected(resolved.error());
  const std::string& visible_name =
      relation.has_alias() ? relation.alias().aliasname() : relation.relname();
  switch (resolved->target) {
    case Target::kCte:
      guard_.noteOpaque(visible_name);
      return Next::kDone;
    case Target::kReference:
      guard_.noteShared(visible_name);
      relation.set_schemaname(resolved->schema);
      noteRelation(resolved->schema + "." + relation.relname());
      return Next::kDone;
    case Target::kCatalog: {
      guard_.noteShared(visible_name);
      auto secured = catalogFence(*resolved->catalog, relation, policy_);
      if (!secured) return std::unexpected(secured.error());
      noteRelation(catalogName(*resolved->catalog));
      *wrapper = std::move(*secured);  // `relation` is gone from here on
      return Next::kDone;
    }
    case Target::kProtected:
      break;
  }
  pg_query::Node bare;
  auto* inner = bare.mutable_range_var();
  *inner = relation;  // keeps inh, so ONLY t stays ONLY inside the fence
  inner->clear_alias();
  inner->set_schemaname(resolved->table->schema);
  auto fenced =
      fence(*resolved->table, relation.has_alias() ? &relation.alias() : nullptr, std::move(bare));
  if (!fenced) return std::unexpected(fenced.error());
  *wrapper = std::move(*fenced);  // `relation` is gone from here on
  return Next::kDone;
}

Visit StatementRewriter::onRangeTableSample(Message& node, pg_query::Node* wrapper,
                                            Walker& walker) {
  auto& sample = static_cast<pg_query::RangeTableSample&>(node);
  const auto method = stringNames(sample.method());
  // The method names a handler function looked up like any function: allowlisted, qualified.
  const bool known_method =
      method && !method->empty() &&
      (method->size() == 1 || (method->size() == 2 && (*method)[0] == kCatalog)) &&
      isAllowedTablesampleMethod(method->back());
  if (!known_method) {
    return std::unexpected(refused("TABLESAMPLE method " +
                                       (method ? dotted(*method) : std::string("(unnamed)")) +
                                       " is not allowed by the tenantwall policy",
                                   "use TABLESAMPLE bernoulli or system"));
  }
  if (method->size() == 1) prependName(*sample.mutable_method(), kCatalog);
  if (wrapper == nullptr || !sample.has_relation() || !sample.relation().has_range_var())
    return std::unexpected(unsupportedNode("RangeTableSample"));
  // The sampling arguments are user expressions like any other.
  if (auto s = walker.walkFields(sample, {"relation"}); !s) return std::unexpected(s.error());

  auto& relation = *sample.mutable_relation()->mutable_range_var();
  if (auto s = walker.walkFields(relation); !s) return std::unexpected(s.error());
  auto resolved = resolve(relation);
  if (!resolved) return std::unexpected(resolved.error());
  switch (resolved->target) {
    case Target::kCte:  // PostgreSQL itself refuses TABLESAMPLE on a CTE
      return Next::kDone;
    case Target::kCatalog:
      return std::unexpected(
          refused("TABLESAMPLE on a catalog is not allowed by the tenantwall "
                  "policy",
                  "read the catalog without TABLESAMPLE"));
    case Target::kReference:
      guard_.noteShared(relation.has_alias() ? relation.alias().aliasname() : relation.relname());
      relation.set_schemaname(resolved->schema);
      noteRelation(resolved->schema + "." + relation.relname());
      return Next::kDone;
    case Target::kProtected:
      break;
  }
  // The sample moves inside the fence, around the bare relation; the alias goes outside.
  std::optional<pg_query::Alias> alias;
  if (relation.has_alias()) alias = relation.alias();
  relation.clear_alias();
  relation.set_schemaname(resolved->table->schema);
  const ProtectedTable& table = *resolved->table;
  pg_query::Node inner;
  *inner.mutable_range_table_sample() = std::move(sample);
  auto fenced = fence(table, alias ? &*alias : nullptr, std::move(inner));
  if (!fenced) return std::unexpected(fenced.error());
  *wrapper = std::move(*fenced);
  return Next::kDone;
}

Visit StatementRewriter::onRangeFunction(Message& node, pg_query::Node*, Walker&) {
  const auto& range = static_cast<const pg_query::RangeFunction&>(node);
  const auto columnDefinitions = [] {
    return refused("a column definition list in FROM is not allowed by the tenantwall policy",
                   "only set-returning functions with a known result type can be used in FROM");
  };
  if (range.coldeflist_size() > 0) return std::unexpected(columnDefinitions());
  for (const auto& item : range.functions()) {
    if (!item.has_list() || item.list().items_size() == 0)
      return std::unexpected(unsupportedNode("RangeFunction"));
    const auto& items = item.list().items();
    if (items.size() > 1 && !nodeKind(items[1]).empty())
      return std::unexpected(columnDefinitions());
    if (!items[0].has_func_call()) {
      return std::unexpected(refused(
          "only set-returning functions such as generate_series and unnest can be used in FROM",
          "tenantwall does not allow other expressions as FROM items"));
    }
    auto use = allowedFunction(items[0].func_call().funcname());
    if (!use) return std::unexpected(use.error());
    if (*use != FunctionUse::kSetReturning) {
      const auto names = stringNames(items[0].func_call().funcname());
      return std::unexpected(
          refused("function " + dotted(names.value_or(std::vector<std::string>{})) +
                      " cannot be used in FROM under the tenantwall policy",
                  "only set-returning functions such as generate_series and unnest can"));
    }
  }
  // Function results carry no tenant id; unaliased, a single function is named after itself.
  if (range.has_alias()) {
    guard_.noteShared(range.alias().aliasname());
  } else if (range.functions_size() == 1) {
    const auto names = stringNames(range.functions(0).list().items(0).func_call().funcname());
    if (names && !names->empty()) guard_.noteShared(names->back());
  }
  return Next::kChildren;  // the FuncCall handler qualifies each function
}

Visit StatementRewriter::onRangeSubselect(Message& node, pg_query::Node*, Walker&) {
  const auto& range = static_cast<const pg_query::RangeSubselect&>(node);
  // The subquery's SELECT is the next level the walk opens, right below.
  if (range.has_alias() && range.has_subquery() && range.subquery().has_select_stmt())
    guard_.noteSubquery(range.alias(), guard_.nextLevel(), range.subquery().select_stmt());
  return Next::kChildren;
}

Visit StatementRewriter::onJoinExpr(Message& node, pg_query::Node*, Walker&) {
  const auto& join = static_cast<const pg_query::JoinExpr&>(node);
  if (join.has_alias()) guard_.noteOpaque(join.alias().aliasname());
  return Next::kChildren;
}

std::expected<std::vector<std::string>, PgError> StatementRewriter::run(pg_query::Node& statement) {
  write_places_.insert(&statement);
  Walker walker(*this, kMaxTreeDepth);
  if (auto s = walker.walk(statement); !s) return std::unexpected(s.error());
  if (auto s = guard_.check(principal_.tenant); !s) return std::unexpected(s.error());
  for (int parameter : written_parameters_) noteTenantParameter(parameter);
  for (int parameter : guard_.tenantParameters()) noteTenantParameter(parameter);
  pruneFenceColumns(statement, policy_);
  return std::move(relations_);
}

std::expected<SelectRewrite, PgError> rewriteSelect(pg_query::Node& statement,
                                                    const Principal& principal,
                                                    const Policy& policy) {
  if (!statement.has_select_stmt()) return std::unexpected(unsupportedNode(nodeKind(statement)));
  StatementRewriter rewriter(principal, policy);
  auto relations = rewriter.run(statement);
  if (!relations) return std::unexpected(relations.error());
  return SelectRewrite{std::move(*relations)};
}

std::expected<SelectRewrite, PgError> rewriteExpressions(NodeList& expressions,
                                                         const Principal& principal,
                                                         const Policy& policy) {
  // Analysed as the select list of a SELECT without FROM, then moved back.
  pg_query::Node statement;
  auto* select = statement.mutable_select_stmt();
  select->set_limit_option(pg_query::LIMIT_OPTION_DEFAULT);
  select->set_op(pg_query::SETOP_NONE);
  for (auto& expression : expressions)
    *select->add_target_list()->mutable_res_target()->mutable_val() = std::move(expression);
  StatementRewriter rewriter(principal, policy);
  auto relations = rewriter.run(statement);
  if (!relations) return std::unexpected(relations.error());
  if (select->target_list_size() != expressions.size())
    return std::unexpected(unsupportedNode("SelectStmt"));
  for (int i = 0; i < expressions.size(); ++i)
    expressions[i] =
        std::move(*select->mutable_target_list(i)->mutable_res_target()->mutable_val());
  return SelectRewrite{std::move(*relations)};
}

std::expected<SelectRewrite, PgError> rewriteStatement(pg_query::Node& statement,
                                                       const Principal& principal,
                                                       const Policy& policy) {
  if (!statement.has_select_stmt() && !statement.has_insert_stmt() &&
      !statement.has_update_stmt() && !statement.has_delete_stmt())
    return std::unexpected(unsupportedNode(nodeKind(statement)));
  StatementRewriter rewriter(principal, policy);
  auto relations = rewriter.run(statement);
  if (!relations) return std::unexpected(relations.error());
  return SelectRewrite{std::move(*relations), rewriter.tenantParameters(),
                       rewriter.writesTenantParameter()};
}

}  // namespace tenantwall::policy::sql
