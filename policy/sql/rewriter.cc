// The SELECT rewriter: a Visitor that resolves relations against the policy and CTE scopes,
// fences protected tables, qualifies names and refuses everything it does not know.
#include "policy/sql/rewriter.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "policy/sql/allowlists.h"
#include "policy/sql/masks.h"
#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/tenant_guard.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kCatalog = "pg_catalog";
// The backend's search_path is pinned to this schema, so unqualified names resolve here.
constexpr std::string_view kDefaultSchema = "public";

PgError refused(std::string message, std::string hint) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint));
}

PgError relationRefused(const std::string& written) {
  return refused("relation \"" + written + "\" is not allowed by the tenantwall policy",
                 "only the protected and reference tables named in the tenantwall policy can be "
                 "read; views, catalogs and other schemas cannot");
}

PgError functionRefused(const std::string& written) {
  return refused("function " + written + " is not allowed by the tenantwall policy",
                 "tenantwall allows a fixed list of side-effect-free pg_catalog functions");
}

// The allowed pg_catalog function a name list denotes: either name or pg_catalog.name.
std::expected<FunctionUse, PgError> allowedFunction(const NodeList& funcname) {
  const auto names = stringNames(funcname);
  if (!names || names->empty()) return std::unexpected(functionRefused("(unnamed)"));
  const bool in_catalog = names->size() == 1 || (names->size() == 2 && (*names)[0] == kCatalog);
  const FunctionUse* use = in_catalog ? findAllowedFunction(names->back()) : nullptr;
  if (use == nullptr) return std::unexpected(functionRefused(dotted(*names)));
  return *use;
}

// Makes an operator name pg_catalog-qualified; an operator from any other schema could be
// user-defined code, so it is refused.
std::expected<void, PgError> qualifyOperator(NodeList& name) {
  const auto names = stringNames(name);
  if (names && names->size() == 1) {
    prependName(name, kCatalog);
    return {};
  }
  if (names && names->size() == 2 && (*names)[0] == kCatalog) return {};
  return std::unexpected(refused("operator " + (names ? dotted(*names) : std::string("(unnamed)")) +
                                     " is not allowed by the tenantwall policy",
                                 "only pg_catalog operators can be used"));
}

class SelectRewriter;
using Handler = Visit (SelectRewriter::*)(Message&, pg_query::Node*, Walker&);

class SelectRewriter final : public Visitor {
 public:
  SelectRewriter(const Principal& principal, const Policy& policy)
      : principal_(principal), policy_(policy) {}

  std::expected<SelectRewrite, PgError> run(pg_query::Node& statement) {
    Walker walker(*this, kMaxTreeDepth);
    if (auto s = walker.walk(statement); !s) return std::unexpected(s.error());
    if (auto s = guard_.check(principal_.tenant); !s) return std::unexpected(s.error());
    return SelectRewrite{std::move(relations_)};
  }

  bool knows(std::string_view kind) const override;
  Visit visit(Message& node, pg_query::Node* wrapper, Walker& walker) override;

  Visit onSelect(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onCommonTableExpr(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeVar(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeTableSample(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeFunction(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onRangeSubselect(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onJoinExpr(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onFuncCall(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onAExpr(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSubLink(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSortBy(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onTypeName(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onSqlValueFunction(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onColumnRef(Message& node, pg_query::Node* wrapper, Walker& walker);
  Visit onIndirection(Message& node, pg_query::Node* wrapper, Walker& walker);

 private:
  enum class Target { kCte, kProtected, kReference };
  struct Resolved {
    Target target;
    std::string schema;
    const ProtectedTable* table = nullptr;
  };

  bool isCte(std::string_view name) const;
  std::expected<Resolved, PgError> resolve(const pg_query::RangeVar& relation) const;
  std::expected<pg_query::Node, PgError> fence(const ProtectedTable& table,
                                               const pg_query::Alias* alias,
                                               pg_query::Node from_item);
  void noteRelation(std::string name);

  const Principal& principal_;
  const Policy& policy_;
  // CTE names in scope, innermost WITH last (DESIGN 5: CTE names resolve before tables).
  std::vector<std::vector<std::string>> ctes_;
  std::vector<std::string> relations_;
  TenantGuard guard_;
};

// Every node kind a SELECT may contain, with the handler that analyses it (nullptr: nothing to
// check beyond its children, which the walker visits). A kind absent from this table is
// refused wherever it appears, so new parser node kinds fail closed.
struct KindRule {
  std::string_view kind;
  Handler handler;
};

constexpr KindRule kKinds[] = {
    {"SelectStmt", &SelectRewriter::onSelect},
    {"CommonTableExpr", &SelectRewriter::onCommonTableExpr},
    {"RangeVar", &SelectRewriter::onRangeVar},
    {"RangeTableSample", &SelectRewriter::onRangeTableSample},
    {"RangeFunction", &SelectRewriter::onRangeFunction},
    {"FuncCall", &SelectRewriter::onFuncCall},
    {"A_Expr", &SelectRewriter::onAExpr},
    {"SubLink", &SelectRewriter::onSubLink},
    {"SortBy", &SelectRewriter::onSortBy},
    {"TypeName", &SelectRewriter::onTypeName},
    {"SQLValueFunction", &SelectRewriter::onSqlValueFunction},
    // Structure and expressions that name no relation, function, type or operator themselves.
    {"RangeSubselect", &SelectRewriter::onRangeSubselect},
    {"JoinExpr", &SelectRewriter::onJoinExpr},
    {"Alias", nullptr},
    {"ResTarget", nullptr},
    {"ColumnRef", &SelectRewriter::onColumnRef},
    {"A_Star", nullptr},
    {"A_Const", nullptr},
    {"Integer", nullptr},
    {"Float", nullptr},
    {"Boolean", nullptr},
    {"String", nullptr},
    {"BitString", nullptr},
    {"List", nullptr},
    {"ParamRef", nullptr},
    {"TypeCast", nullptr},
    {"CollateClause", nullptr},
    {"BoolExpr", nullptr},
    {"NullTest", nullptr},
    {"BooleanTest", nullptr},
    {"CaseExpr", nullptr},
    {"CaseWhen", nullptr},
    {"CoalesceExpr", nullptr},
    {"MinMaxExpr", nullptr},
    {"A_ArrayExpr", nullptr},
    {"A_Indirection", &SelectRewriter::onIndirection},
    {"A_Indices", nullptr},
    {"RowExpr", nullptr},
    {"NamedArgExpr", nullptr},
    {"WindowDef", nullptr},
    {"GroupingSet", nullptr},
    {"GroupingFunc", nullptr},
    {"CTESearchClause", nullptr},
    {"CTECycleClause", nullptr},
};

const KindRule* findKind(std::string_view kind) {
  const auto* it = std::ranges::find(kKinds, kind, &KindRule::kind);
  return it == std::end(kKinds) ? nullptr : it;
}

bool SelectRewriter::knows(std::string_view kind) const { return findKind(kind) != nullptr; }

Visit SelectRewriter::visit(Message& node, pg_query::Node* wrapper, Walker& walker) {
  const KindRule* rule = findKind(node.GetDescriptor()->name());
  if (rule == nullptr) return std::unexpected(unsupportedNode(node.GetDescriptor()->name()));
  if (rule->handler == nullptr) return Next::kChildren;
  return (this->*(rule->handler))(node, wrapper, walker);
}

// ---- scopes and relations ----------------------------------------------------------------

bool SelectRewriter::isCte(std::string_view name) const {
  return std::ranges::any_of(
      ctes_, [&](const auto& scope) { return std::ranges::find(scope, name) != scope.end(); });
}

std::expected<SelectRewriter::Resolved, PgError> SelectRewriter::resolve(
    const pg_query::RangeVar& relation) const {
  std::vector<std::string> written;
  for (const std::string* part : {&relation.catalogname(), &relation.schemaname()})
    if (!part->empty()) written.push_back(*part);
  written.push_back(relation.relname());
  // A database-qualified name could only ever mean this database; nobody needs to write it.
  if (!relation.catalogname().empty()) return std::unexpected(relationRefused(dotted(written)));
  // Only an unqualified name can denote a CTE, exactly as in PostgreSQL.
  if (relation.schemaname().empty() && isCte(relation.relname())) return Resolved{Target::kCte, {}};
  const std::string schema =
      relation.schemaname().empty() ? std::string(kDefaultSchema) : relation.schemaname();
  if (const ProtectedTable* table = policy_.findProtected(schema, relation.relname()))
    return Resolved{Target::kProtected, schema, table};
  if (policy_.isReference(schema, relation.relname())) return Resolved{Target::kReference, schema};
  return std::unexpected(relationRefused(dotted(written)));
}

void SelectRewriter::noteRelation(std::string name) {
  if (std::ranges::find(relations_, name) == relations_.end())
    relations_.push_back(std::move(name));
}

// (SELECT <columns> FROM <from_item> WHERE schema.t.tenant_col OPERATOR(pg_catalog.=) '<tenant>'
// OFFSET 0) AS <alias>. OFFSET 0 keeps the planner from pulling the subquery up, so no user
// predicate runs on another tenant's row before the tenant filter (DESIGN decision 2).
std::expected<pg_query::Node, PgError> SelectRewriter::fence(const ProtectedTable& table,
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

Visit SelectRewriter::onSelect(Message& node, pg_query::Node*, Walker& walker) {
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
  if (!select.has_with_clause()) {
    if (auto s = walker.walkFields(select); !s) return std::unexpected(s.error());
    guard_.leaveLevel(enclosing);
    return Next::kDone;
  }

  // WITH scoping as in PostgreSQL: a CTE body sees the CTEs before it in its own WITH list
  // (all of them, itself included, under WITH RECURSIVE) and every enclosing WITH; the rest of
  // the statement sees the whole list.
  auto& with = *select.mutable_with_clause();
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
  if (auto s = walker.walkFields(select, {"with_clause"}); !s) return std::unexpected(s.error());
  ctes_.pop_back();
  guard_.leaveLevel(enclosing);
  return Next::kDone;
}

Visit SelectRewriter::onCommonTableExpr(Message& node, pg_query::Node*, Walker&) {
  const auto& cte = static_cast<const pg_query::CommonTableExpr&>(node);
  if (cte.has_ctequery() && !cte.ctequery().has_select_stmt()) {
    return std::unexpected(
        refused("a data-modifying statement in WITH is not allowed by the tenantwall policy",
                "only SELECT can be used in WITH"));
  }
  return Next::kChildren;
}

Visit SelectRewriter::onRangeVar(Message& node, pg_query::Node* wrapper, Walker& walker) {
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

Visit SelectRewriter::onRangeTableSample(Message& node, pg_query::Node* wrapper, Walker& walker) {
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

Visit SelectRewriter::onRangeFunction(Message& node, pg_query::Node*, Walker&) {
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

Visit SelectRewriter::onRangeSubselect(Message& node, pg_query::Node*, Walker&) {
  const auto& range = static_cast<const pg_query::RangeSubselect&>(node);
  // The subquery's SELECT is the next level the walk opens, right below.
  if (range.has_alias() && range.has_subquery() && range.subquery().has_select_stmt())
    guard_.noteSubquery(range.alias(), guard_.nextLevel(), range.subquery().select_stmt());
  return Next::kChildren;
}

Visit SelectRewriter::onJoinExpr(Message& node, pg_query::Node*, Walker&) {
  const auto& join = static_cast<const pg_query::JoinExpr&>(node);
  if (join.has_alias()) guard_.noteOpaque(join.alias().aliasname());
  return Next::kChildren;
}

Visit SelectRewriter::onFuncCall(Message& node, pg_query::Node*, Walker&) {
  auto& call = static_cast<pg_query::FuncCall&>(node);
  if (auto use = allowedFunction(call.funcname()); !use) return std::unexpected(use.error());
  // Qualified, so a same-named function in another schema can never win overload resolution.
  if (call.funcname_size() == 1) prependName(*call.mutable_funcname(), kCatalog);
  return Next::kChildren;
}

Visit SelectRewriter::onAExpr(Message& node, pg_query::Node*, Walker&) {
  auto& expr = static_cast<pg_query::A_Expr&>(node);
  switch (expr.kind()) {
    case pg_query::AEXPR_OP:
    case pg_query::AEXPR_OP_ANY:
    case pg_query::AEXPR_OP_ALL:
      if (auto s = qualifyOperator(*expr.mutable_name()); !s) return std::unexpected(s.error());
      break;
    case pg_query::AEXPR_DISTINCT:
    case pg_query::AEXPR_NOT_DISTINCT:
    case pg_query::AEXPR_NULLIF:
    case pg_query::AEXPR_IN:
    case pg_query::AEXPR_LIKE:
    case pg_query::AEXPR_ILIKE:
    case pg_query::AEXPR_SIMILAR:
    case pg_query::AEXPR_BETWEEN:
    case pg_query::AEXPR_NOT_BETWEEN:
    case pg_query::AEXPR_BETWEEN_SYM:
    case pg_query::AEXPR_NOT_BETWEEN_SYM:
      // Keyword syntax: the grammar supplies the operator name and the deparser prints the
      // keyword, not the name, so a qualified name here could only be a forged tree.
      if (expr.name_size() != 1) return std::unexpected(unsupportedNode("A_Expr"));
      break;
    default:
      return std::unexpected(unsupportedNode("A_Expr"));
  }
  guard_.noteComparison(expr);
  return Next::kChildren;
}

Visit SelectRewriter::onSubLink(Message& node, pg_query::Node*, Walker&) {
  auto& link = static_cast<pg_query::SubLink&>(node);
  switch (link.sub_link_type()) {
    case pg_query::EXISTS_SUBLINK:
    case pg_query::ALL_SUBLINK:
    case pg_query::ANY_SUBLINK:
    case pg_query::ROWCOMPARE_SUBLINK:
    case pg_query::EXPR_SUBLINK:
    case pg_query::ARRAY_SUBLINK:
      break;
    default:
      return std::unexpected(unsupportedNode("SubLink"));
  }
  if (link.oper_name_size() > 0) {
    if (auto s = qualifyOperator(*link.mutable_oper_name()); !s) return std::unexpected(s.error());
  }
  return Next::kChildren;
}

Visit SelectRewriter::onSortBy(Message& node, pg_query::Node*, Walker&) {
  auto& sort = static_cast<pg_query::SortBy&>(node);
  if (sort.use_op_size() > 0) {
    if (auto s = qualifyOperator(*sort.mutable_use_op()); !s) return std::unexpected(s.error());
  }
  return Next::kChildren;
}

Visit SelectRewriter::onTypeName(Message& node, pg_query::Node*, Walker&) {
  auto& type = static_cast<pg_query::TypeName&>(node);
  const auto names = stringNames(type.names());
  const bool in_catalog =
      names && (names->size() == 1 || (names->size() == 2 && (*names)[0] == kCatalog));
  if (type.pct_type() || type.setof() || !in_catalog || !isAllowedType(names->back())) {
    return std::unexpected(refused(
        "type " + (names ? dotted(*names) : std::string("(unnamed)")) +
            " is not allowed by the tenantwall policy",
        "casts are limited to the built-in scalar types (text, numeric, date, uuid, json, ...)"));
  }
  if (names->size() == 1) prependName(*type.mutable_names(), kCatalog);
  return Next::kChildren;
}

Visit SelectRewriter::onSqlValueFunction(Message& node, pg_query::Node*, Walker&) {
  const auto& function = static_cast<const pg_query::SQLValueFunction&>(node);
  const int op = function.op();
  if (op >= pg_query::SVFOP_CURRENT_DATE && op <= pg_query::SVFOP_LOCALTIMESTAMP_N)
    return Next::kChildren;
  // The user and schema functions would name the proxy's service role, not the tenant.
  std::string name = pg_query::SQLValueFunctionOp_Name(function.op());
  if (name.starts_with("SVFOP_")) name.erase(0, 6);
  return std::unexpected(refused(name + " is not allowed by the tenantwall policy",
                                 "the session runs under tenantwall's own database role"));
}

Visit SelectRewriter::onColumnRef(Message& node, pg_query::Node*, Walker&) {
  guard_.noteColumn(static_cast<const pg_query::ColumnRef&>(node));
  return Next::kChildren;
}

Visit SelectRewriter::onIndirection(Message& node, pg_query::Node*, Walker&) {
  guard_.noteIndirection(static_cast<const pg_query::A_Indirection&>(node));
  return Next::kChildren;
}

}  // namespace

std::expected<SelectRewrite, PgError> rewriteSelect(pg_query::Node& statement,
                                                    const Principal& principal,
                                                    const Policy& policy) {
  if (!statement.has_select_stmt()) return std::unexpected(unsupportedNode(nodeKind(statement)));
  SelectRewriter rewriter(principal, policy);
  return rewriter.run(statement);
}

}  // namespace tenantwall::policy::sql
