// The expression handlers of the statement rewriter: functions, operators, types, SQL value
// functions and column references, each checked against the allowlists and qualified.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/allowlists.h"
#include "policy/sql/catalog_rewriter.h"
#include "policy/sql/nodes.h"
#include "policy/sql/rewriter.h"
#include "policy/sql/statement_rewriter.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;

PgError functionRefused(const std::string& written) {
  return refused("function " + written + " is not allowed by the tenantwall policy",
                 "tenantwall allows a fixed list of side-effect-free pg_catalog functions");
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

// 'value'::pg_catalog.name: the type PostgreSQL gives current_user and current_schema.
pg_query::Node nameConst(std::string_view value) {
  pg_query::Node node;
  auto* cast = node.mutable_type_cast();
  *cast->mutable_arg() = stringConst(value);
  auto* type = cast->mutable_type_name();
  *type->add_names() = stringNode(kCatalog);
  *type->add_names() = stringNode("name");
  type->set_typemod(-1);
  return node;
}

// What CURRENT_USER and its relatives answer under tenantwall.
std::optional<std::string> identityValue(int op, const Principal& principal) {
  switch (op) {
    case pg_query::SVFOP_CURRENT_ROLE:
    case pg_query::SVFOP_CURRENT_USER:
    case pg_query::SVFOP_USER:
    case pg_query::SVFOP_SESSION_USER:
      return principal.user;
    case pg_query::SVFOP_CURRENT_SCHEMA:
      return std::string(kDefaultSchema);
    default:
      return std::nullopt;
  }
}

bool isCurrentSchemaCall(const pg_query::FuncCall& call) {
  const auto names = stringNames(call.funcname());
  const bool in_catalog =
      names && (names->size() == 1 || (names->size() == 2 && (*names)[0] == kCatalog));
  return in_catalog && names->back() == "current_schema" && call.args_size() == 0;
}

bool castsToRegclass(const pg_query::TypeCast& cast) {
  const auto names = stringNames(cast.type_name().names());
  if (!names || names->empty() || names->size() > 2) return false;
  if (names->size() == 2 && (*names)[0] != kCatalog) return false;
  return names->back() == "regclass";
}

// The column name PostgreSQL gives a chain of casts that holds a regclass cast (which becomes a
// guarded CASE): the innermost value's name when it has a strong one, else the outermost type.
std::optional<std::string> regclassCastColumnName(const pg_query::Node& value) {
  bool regclass = false;
  std::string outer_type;
  const pg_query::Node* node = &value;
  while (node->has_type_cast() || node->has_collate_clause()) {
    if (node->has_collate_clause()) {
      node = &node->collate_clause().arg();
      continue;
    }
    const auto& cast = node->type_cast();
    regclass = regclass || castsToRegclass(cast);
    if (outer_type.empty()) {
      if (const auto names = stringNames(cast.type_name().names()); names && !names->empty())
        outer_type = names->back();
    }
    node = &cast.arg();
  }
  if (!regclass) return std::nullopt;
  if (node->has_column_ref()) {
    const auto& fields = node->column_ref().fields();
    if (!fields.empty() && fields.rbegin()->has_string()) return fields.rbegin()->string().sval();
  }
  if (node->has_func_call()) {
    if (const auto names = stringNames(node->func_call().funcname()); names && !names->empty())
      return names->back();
  }
  return outer_type;
}

// The output column name PostgreSQL derives for a value that the rewriter replaces.
std::optional<std::string> identityColumnName(const pg_query::Node& value) {
  if (auto name = regclassCastColumnName(value)) return name;
  if (value.has_func_call() && isCurrentSchemaCall(value.func_call())) return "current_schema";
  if (value.has_func_call() && isGuardedCatalogCall(value.func_call())) {
    const auto names = stringNames(value.func_call().funcname());
    if (names && !names->empty()) return names->back();
  }
  if (!value.has_sqlvalue_function()) return std::nullopt;
  switch (value.sqlvalue_function().op()) {
    case pg_query::SVFOP_CURRENT_ROLE:
      return "current_role";
    case pg_query::SVFOP_CURRENT_USER:
      return "current_user";
    case pg_query::SVFOP_USER:
      return "user";
    case pg_query::SVFOP_SESSION_USER:
      return "session_user";
    case pg_query::SVFOP_CURRENT_SCHEMA:
      return "current_schema";
    default:
      return std::nullopt;
  }
}

}  // namespace

std::expected<FunctionUse, PgError> allowedFunction(const NodeList& funcname) {
  const auto names = stringNames(funcname);
  if (!names || names->empty()) return std::unexpected(functionRefused("(unnamed)"));
  const bool in_catalog = names->size() == 1 || (names->size() == 2 && (*names)[0] == kCatalog);
  // information_schema's own helper, a plain SQL function pgJDBC calls for primary keys.
  if (names->size() == 2 && (*names)[0] == "information_schema" && (*names)[1] == "_pg_expandarray")
    return FunctionUse::kSetReturning;
  const FunctionUse* use = in_catalog ? findAllowedFunction(names->back()) : nullptr;
  if (use == nullptr) return std::unexpected(functionRefused(dotted(*names)));
  return *use;
}

std::expected<void, PgError> qualifyType(pg_query::TypeName& type) {
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
  return {};
}

Visit StatementRewriter::onFuncCall(Message& node, pg_query::Node* wrapper, Walker& walker) {
  auto& call = static_cast<pg_query::FuncCall&>(node);
  if (isCurrentSchemaCall(call) && wrapper != nullptr) {
    *wrapper = nameConst(kDefaultSchema);
    return Next::kDone;
  }
  if (auto use = allowedFunction(call.funcname()); !use) return std::unexpected(use.error());
  // Qualified, so a same-named function in another schema can never win overload resolution.
  if (call.funcname_size() == 1) prependName(*call.mutable_funcname(), kCatalog);
  // A catalog-printing function answers only for objects the secured catalogs show: once its
  // arguments are analysed, the call is wrapped in its guard (trusted template text, which
  // reads the real catalogs and is not analysed again).
  if (wrapper != nullptr) {
    if (auto guard = guardCatalogCall(*wrapper, policy_)) {
      if (!*guard) return std::unexpected(guard->error());
      if (auto s = walker.walkFields(call); !s) return std::unexpected(s.error());
      auto rebuilt = guardCatalogCall(*wrapper, policy_);  // around the analysed arguments
      if (!rebuilt || !*rebuilt) return std::unexpected(unsupportedNode("FuncCall"));
      *wrapper = std::move(**rebuilt);
      return Next::kDone;
    }
  }
  return Next::kChildren;
}

Visit StatementRewriter::onAExpr(Message& node, pg_query::Node*, Walker&) {
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

Visit StatementRewriter::onSubLink(Message& node, pg_query::Node*, Walker&) {
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

Visit StatementRewriter::onSortBy(Message& node, pg_query::Node*, Walker&) {
  auto& sort = static_cast<pg_query::SortBy&>(node);
  if (sort.use_op_size() > 0) {
    if (auto s = qualifyOperator(*sort.mutable_use_op()); !s) return std::unexpected(s.error());
  }
  return Next::kChildren;
}

Visit StatementRewriter::onTypeName(Message& node, pg_query::Node*, Walker&) {
  if (auto s = qualifyType(static_cast<pg_query::TypeName&>(node)); !s)
    return std::unexpected(s.error());
  return Next::kChildren;
}

// value::regclass resolves relation names and prints them: a literal must name a relation the
// catalogs show (anything else reads as a relation that does not exist), and any other value
// is guarded so it prints names only of those relations.
Visit StatementRewriter::onTypeCast(Message& node, pg_query::Node* wrapper, Walker& walker) {
  auto& cast = static_cast<pg_query::TypeCast&>(node);
  if (!cast.has_type_name() || !castsToRegclass(cast)) return Next::kChildren;
  if (cast.type_name().array_bounds_size() > 0)
    return std::unexpected(refused("casts to regclass[] are not allowed by the tenantwall policy",
                                   "cast each relation name on its own"));
  if (cast.arg().has_a_const() && cast.arg().a_const().has_sval()) {
    const std::string& text = cast.arg().a_const().sval().sval();
    switch (classifyRegclassLiteral(text, policy_, kDefaultSchema)) {
      case RegclassLiteral::kVisible:
        return Next::kChildren;
      case RegclassLiteral::kHidden:
        return std::unexpected(protocol::makeError(protocol::sqlstate::kUndefinedTable,
                                                   "relation \"" + text + "\" does not exist"));
      case RegclassLiteral::kNumeric:
        break;
    }
  }
  if (wrapper == nullptr) return std::unexpected(unsupportedNode("TypeCast"));
  if (auto s = walker.walkFields(cast); !s) return std::unexpected(s.error());
  auto guarded = guardRegclassCast(*wrapper, policy_);
  if (!guarded) return std::unexpected(guarded.error());
  *wrapper = std::move(*guarded);
  return Next::kDone;
}

Visit StatementRewriter::onSqlValueFunction(Message& node, pg_query::Node* wrapper, Walker&) {
  const auto& function = static_cast<const pg_query::SQLValueFunction&>(node);
  const int op = function.op();
  if ((op >= pg_query::SVFOP_CURRENT_DATE && op <= pg_query::SVFOP_LOCALTIMESTAMP_N) ||
      op == pg_query::SVFOP_CURRENT_CATALOG)
    return Next::kChildren;
  // The user and schema functions would name the proxy's service role and whatever schema it
  // sits in: they answer with the principal's name and the pinned schema instead.
  const auto value = identityValue(op, principal_);
  if (!value || wrapper == nullptr) return std::unexpected(unsupportedNode("SQLValueFunction"));
  *wrapper = nameConst(*value);
  return Next::kDone;
}

Visit StatementRewriter::onColumnRef(Message& node, pg_query::Node*, Walker&) {
  auto& ref = static_cast<pg_query::ColumnRef&>(node);
  // schema.table.column of a protected table: the fenced relation is named by the table alone
  // (or by its alias, when PostgreSQL would have refused the three-part name anyway).
  if (ref.fields_size() == 3 && ref.fields(0).has_string() && ref.fields(1).has_string()) {
    const auto names = std::optional<std::vector<std::string>>(
        {ref.fields(0).string().sval(), ref.fields(1).string().sval()});
    const bool fenced = names && (policy_.findProtected((*names)[0], (*names)[1]) != nullptr ||
                                  (isCatalogSchema((*names)[0]) &&
                                   findCatalogRelation((*names)[0], (*names)[1]) != nullptr));
    if (fenced) ref.mutable_fields()->DeleteSubrange(0, 1);
  }
  guard_.noteColumn(ref);
  return Next::kChildren;
}

Visit StatementRewriter::onResTarget(Message& node, pg_query::Node*, Walker&) {
  auto& target = static_cast<pg_query::ResTarget&>(node);
  // Keeps the column name PostgreSQL would give a value that is about to become a constant.
  if (target.name().empty() && target.has_val()) {
    if (auto name = identityColumnName(target.val())) target.set_name(*name);
  }
  return Next::kChildren;
}

Visit StatementRewriter::onIndirection(Message& node, pg_query::Node*, Walker&) {
  guard_.noteIndirection(static_cast<const pg_query::A_Indirection&>(node));
  return Next::kChildren;
}

}  // namespace tenantwall::policy::sql
