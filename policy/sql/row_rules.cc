// Row rule templates: compiled at load (checked, operators qualified), instantiated per
// principal by substituting constant nodes, and proven for the rows a write leaves behind.
#include "policy/sql/row_rules.h"

#include <algorithm>
#include <array>
#include <utility>

#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;

constexpr std::string_view kCatalog = "pg_catalog";
constexpr std::array<std::string_view, 6> kComparisons = {"=", "<>", "<", "<=", ">", ">="};

PgError ruleError(std::string message) {
  return protocol::makeError(protocol::sqlstate::kSyntaxError, std::move(message));
}

// ---- principal references ------------------------------------------------------------------

struct PrincipalRef {
  enum class Kind { kTenant, kUser, kRole, kGroups, kAttribute };
  Kind kind;
  std::string attribute;
  std::string written;  // "principal.attributes.region", for messages
};

bool namesPrincipal(const pg_query::ColumnRef& ref) {
  return ref.fields_size() >= 2 && ref.fields(0).has_string() &&
         ref.fields(0).string().sval() == "principal";
}

// The reference `ref` makes, or the reason it is not one (ref must name the principal).
std::expected<PrincipalRef, std::string> principalRef(const pg_query::ColumnRef& ref) {
  const auto names = stringNames(ref.fields());
  if (!names) return std::unexpected(std::string("principal.* is not a value"));
  const std::string written = dotted(*names);
  using enum PrincipalRef::Kind;
  if (names->size() == 2) {
    const std::string& what = (*names)[1];
    if (what == "tenant") return PrincipalRef{kTenant, {}, written};
    if (what == "user") return PrincipalRef{kUser, {}, written};
    if (what == "role") return PrincipalRef{kRole, {}, written};
    if (what == "groups") return PrincipalRef{kGroups, {}, written};
  } else if (names->size() == 3 && (*names)[1] == "attributes" && !(*names)[2].empty()) {
    return PrincipalRef{kAttribute, (*names)[2], written};
  }
  return std::unexpected(
      "unknown principal reference '" + written +
      "' (expected principal.tenant, principal.user, principal.role, principal.groups or "
      "principal.attributes.<name>)");
}

// The principal's value for ref, nullopt when it has none.
std::optional<Attribute> valueOf(const PrincipalRef& ref, const Principal& principal) {
  using enum PrincipalRef::Kind;
  switch (ref.kind) {
    case kTenant:
      return Attribute{{principal.tenant}, false};
    case kUser:
      return Attribute{{principal.user}, false};
    case kRole:
      return Attribute{{principal.role}, false};
    case kGroups:
      return Attribute{principal.groups, true};
    case kAttribute: {
      const auto it = principal.attributes.find(ref.attribute);
      if (it == principal.attributes.end()) return std::nullopt;
      return it->second;
    }
  }
  return std::nullopt;
}

// A list as one array literal constant ('{"eu","us"}'): PostgreSQL gives it the array type of
// the other side of = ANY, so it compares with a column of any type, and every element is
// double-quoted with " and \ escaped, so no value can change the list's shape.
pg_query::Node arrayConst(const std::vector<std::string>& values) {
  std::string text = "{";
  for (const std::string& value : values) {
    if (text.size() > 1) text += ',';
    text += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') text += '\\';
      text += c;
    }
    text += '"';
  }
  text += '}';
  return stringConst(text);
}

pg_query::Node falseConst() {
  pg_query::Node node;
  node.mutable_a_const()->mutable_boolval()->set_boolval(false);
  return node;
}

bool isListOperator(const pg_query::A_Expr& expr) {
  return expr.kind() == pg_query::AEXPR_OP_ANY || expr.kind() == pg_query::AEXPR_OP_ALL;
}

// The rexpr of `x = ANY(principal.groups)`, when it names the principal.
const pg_query::ColumnRef* listPrincipal(const pg_query::A_Expr& expr) {
  if (!isListOperator(expr) || !expr.rexpr().has_column_ref()) return nullptr;
  const auto& ref = expr.rexpr().column_ref();
  return namesPrincipal(ref) ? &ref : nullptr;
}

// ---- compiling -------------------------------------------------------------------------------

std::string friendlyKind(std::string_view kind) {
  if (kind == "FuncCall") return "function calls";
  if (kind == "TypeCast") return "casts";
  if (kind == "SubLink") return "subqueries";
  if (kind == "ParamRef") return "parameters";
  return std::string(kind);
}

class RuleChecker final : public Visitor {
 public:
  explicit RuleChecker(const std::set<std::string>& allowed) : allowed_(allowed) {}

  bool knows(std::string_view) const override { return true; }  // refused below, with a reason

  Visit visit(Message& node, pg_query::Node* wrapper, Walker& walker) override {
    const std::string& kind = node.GetDescriptor()->name();
    if (kind == "A_Expr") return onExpr(static_cast<pg_query::A_Expr&>(node), walker);
    if (kind == "ColumnRef") return onColumn(static_cast<pg_query::ColumnRef&>(node), wrapper);
    static constexpr std::string_view kPlain[] = {"BoolExpr",  "NullTest", "BooleanTest", "A_Const",
                                                  "Integer",   "Float",    "String",      "Boolean",
                                                  "BitString", "List",     "A_ArrayExpr"};
    if (std::ranges::find(kPlain, kind) != std::end(kPlain)) return Next::kChildren;
    return std::unexpected(ruleError(friendlyKind(kind) +
                                     " are not allowed in a row rule (only comparisons of the "
                                     "table's columns with constants and principal values)"));
  }

  std::set<std::string> columns;

 private:
  Visit onExpr(pg_query::A_Expr& expr, Walker& walker) {
    switch (expr.kind()) {
      case pg_query::AEXPR_OP:
      case pg_query::AEXPR_OP_ANY:
      case pg_query::AEXPR_OP_ALL: {
        const auto names = stringNames(expr.name());
        if (!names || names->size() != 1 ||
            std::ranges::find(kComparisons, (*names)[0]) == kComparisons.end()) {
          return std::unexpected(ruleError("operator " + (names ? dotted(*names) : "?") +
                                           " is not allowed in a row rule (use = <> < <= > >=)"));
        }
        prependName(*expr.mutable_name(), kCatalog);
        break;
      }
      case pg_query::AEXPR_DISTINCT:
      case pg_query::AEXPR_NOT_DISTINCT:
      case pg_query::AEXPR_IN:
      case pg_query::AEXPR_LIKE:
      case pg_query::AEXPR_ILIKE:
      case pg_query::AEXPR_BETWEEN:
      case pg_query::AEXPR_NOT_BETWEEN:
        if (expr.name_size() != 1) return std::unexpected(ruleError("malformed comparison"));
        break;
      default:
        return std::unexpected(ruleError("this comparison is not allowed in a row rule"));
    }
    if (const pg_query::ColumnRef* list = listPrincipal(expr)) {
      if (auto ref = principalRef(*list); !ref) return std::unexpected(ruleError(ref.error()));
      if (auto s = walker.walk(*expr.mutable_lexpr()); !s) return std::unexpected(s.error());
      return Next::kDone;
    }
    return Next::kChildren;
  }

  Visit onColumn(pg_query::ColumnRef& ref, pg_query::Node* wrapper) {
    if (wrapper == nullptr) return std::unexpected(ruleError("malformed column reference"));
    if (namesPrincipal(ref)) {
      auto principal = principalRef(ref);
      if (!principal) return std::unexpected(ruleError(principal.error()));
      if (principal->kind == PrincipalRef::Kind::kGroups) {
        return std::unexpected(
            ruleError("principal.groups is a list: compare with = ANY(principal.groups)"));
      }
      return Next::kDone;
    }
    const auto names = stringNames(ref.fields());
    if (!names || names->size() != 1) {
      return std::unexpected(
          ruleError("write the table's columns unqualified in a row rule (and no *)"));
    }
    if (!allowed_.contains((*names)[0])) {
      return std::unexpected(
          ruleError("'" + (*names)[0] + "' is not a column of the table in the policy"));
    }
    columns.insert((*names)[0]);
    return Next::kDone;
  }

  const std::set<std::string>& allowed_;
};

// ---- instantiating ---------------------------------------------------------------------------

class RuleInstance final : public Visitor {
 public:
  RuleInstance(const Principal& principal, const std::vector<std::string>& qualifier)
      : principal_(principal), qualifier_(qualifier) {}

  bool knows(std::string_view) const override { return true; }  // compiled: known kinds only

  Visit visit(Message& node, pg_query::Node* wrapper, Walker& walker) override {
    const std::string& kind = node.GetDescriptor()->name();
    if (kind == "A_Expr") {
      auto& expr = static_cast<pg_query::A_Expr&>(node);
      if (const pg_query::ColumnRef* list = listPrincipal(expr)) {
        const auto ref = principalRef(*list);
        const auto value = ref ? valueOf(*ref, principal_) : std::nullopt;
        if (!value) {
          failed = true;
          return Next::kDone;
        }
        *expr.mutable_rexpr() = arrayConst(value->values);  // a scalar is a list of one
        if (auto s = walker.walk(*expr.mutable_lexpr()); !s) return std::unexpected(s.error());
        return Next::kDone;
      }
      return Next::kChildren;
    }
    if (kind != "ColumnRef" || wrapper == nullptr) return Next::kChildren;
    const auto& ref = static_cast<const pg_query::ColumnRef&>(node);
    if (namesPrincipal(ref)) {
      const auto principal = principalRef(ref);
      const auto value = principal ? valueOf(*principal, principal_) : std::nullopt;
      if (!value || value->list || value->values.size() != 1) {
        failed = true;  // missing, or a list compared as a scalar: the rule denies
        return Next::kDone;
      }
      *wrapper = stringConst(value->values.front());
      return Next::kDone;
    }
    pg_query::Node column;
    auto* qualified = column.mutable_column_ref();
    for (const std::string& part : qualifier_) *qualified->add_fields() = stringNode(part);
    *qualified->add_fields() = ref.fields(0);
    *wrapper = std::move(column);
    return Next::kDone;
  }

  bool failed = false;

 private:
  const Principal& principal_;
  const std::vector<std::string>& qualifier_;
};

// ---- proving a written row -------------------------------------------------------------------

std::optional<std::string> constantText(const pg_query::Node& node) {
  if (!node.has_a_const() || node.a_const().isnull()) return std::nullopt;
  const auto& value = node.a_const();
  if (value.has_sval()) return value.sval().sval();
  if (value.has_ival()) return std::to_string(value.ival().ival());
  if (value.has_fval()) return value.fval().fval();
  return std::nullopt;
}

class Prover {
 public:
  Prover(const Principal& principal, const std::map<std::string, const pg_query::Node*>& assigned,
         bool existing_row)
      : principal_(principal), assigned_(assigned), existing_row_(existing_row) {}

  // Whether expr is certainly true for the written row; top: only ANDs lie above it.
  bool holds(const pg_query::Node& expr, bool top) const {
    if (existing_row_ && top && !readsAssigned(expr)) return true;  // unchanged since WHERE
    if (expr.has_bool_expr()) {
      const auto& args = expr.bool_expr().args();
      switch (expr.bool_expr().boolop()) {
        case pg_query::AND_EXPR:
          return std::ranges::all_of(args, [&](const auto& a) { return holds(a, top); });
        case pg_query::OR_EXPR:
          return std::ranges::any_of(args, [&](const auto& a) { return holds(a, false); });
        default:
          return false;
      }
    }
    if (!expr.has_a_expr()) return false;
    const auto& comparison = expr.a_expr();
    const auto name = stringNames(comparison.name());
    if (!name || name->empty() || name->back() != "=") return false;
    const auto left = scalar(comparison.lexpr());
    if (comparison.kind() == pg_query::AEXPR_OP) {
      const auto right = scalar(comparison.rexpr());
      return left && right && *left == *right;
    }
    if (!left) return false;
    std::vector<std::string> candidates;
    if (comparison.kind() == pg_query::AEXPR_OP_ANY) {
      if (const pg_query::ColumnRef* list = listPrincipal(comparison)) {
        const auto ref = principalRef(*list);
        const auto value = ref ? valueOf(*ref, principal_) : std::nullopt;
        if (value) candidates = value->values;
      } else if (comparison.rexpr().has_a_array_expr()) {
        for (const auto& element : comparison.rexpr().a_array_expr().elements())
          if (auto text = scalar(element)) candidates.push_back(*text);
      }
    } else if (comparison.kind() == pg_query::AEXPR_IN && comparison.rexpr().has_list()) {
      for (const auto& item : comparison.rexpr().list().items())
        if (auto text = scalar(item)) candidates.push_back(*text);
    }
    return std::ranges::find(candidates, *left) != candidates.end();
  }

 private:
  // The text a side of a comparison certainly has: a written constant, the rule's constant,
  // or the principal's scalar value. Equal texts are equal values of any type; that is all a
  // proof uses, so no type's comparison rules need to be known here.
  std::optional<std::string> scalar(const pg_query::Node& side) const {
    if (side.has_a_const()) return constantText(side);
    if (!side.has_column_ref()) return std::nullopt;
    const auto& ref = side.column_ref();
    if (namesPrincipal(ref)) {
      const auto principal = principalRef(ref);
      const auto value = principal ? valueOf(*principal, principal_) : std::nullopt;
      if (!value || value->list || value->values.size() != 1) return std::nullopt;
      return value->values.front();
    }
    const auto names = stringNames(ref.fields());
    if (!names || names->size() != 1) return std::nullopt;
    const auto it = assigned_.find((*names)[0]);
    if (it == assigned_.end() || it->second == nullptr) return std::nullopt;
    return constantText(*it->second);
  }

  bool readsAssigned(const pg_query::Node& expr) const {
    bool reads = false;
    visitColumns(expr,
                 [&](const std::string& column) { reads = reads || assigned_.contains(column); });
    return reads;
  }

  template <typename F>
  static void visitColumns(const google::protobuf::Message& message, F&& f) {
    if (message.GetDescriptor() == pg_query::ColumnRef::descriptor()) {
      const auto& ref = static_cast<const pg_query::ColumnRef&>(message);
      if (!namesPrincipal(ref) && ref.fields_size() == 1 && ref.fields(0).has_string())
        f(ref.fields(0).string().sval());
      return;
    }
    const auto* reflection = message.GetReflection();
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);
    for (const auto* field : fields) {
      if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i)
          visitColumns(reflection->GetRepeatedMessage(message, field, i), f);
      } else {
        visitColumns(reflection->GetMessage(message, field), f);
      }
    }
  }

  const Principal& principal_;
  const std::map<std::string, const pg_query::Node*>& assigned_;
  bool existing_row_;
};

PgError ruleRefusal(const ProtectedTable& table, const RowRule& rule, const Principal& principal,
                    std::string_view command) {
  std::string columns;
  for (const auto& column : rule.columns)
    columns.append(columns.empty() ? "" : ", ").append(column);
  return protocol::makeError(protocol::sqlstate::kInsufficientPrivilege,
                             std::string(command) + " on " + table.name +
                                 " could write a row outside the row rule \"" + rule.where +
                                 "\" of role '" + principal.role + "'",
                             "rows you write must satisfy your row rules; give " +
                                 (columns.empty() ? std::string("the rule's columns") : columns) +
                                 " as constants that satisfy it");
}

}  // namespace

std::expected<CompiledRule, std::string> compileRowRule(std::string_view where,
                                                        const std::set<std::string>& columns) {
  auto expression = parseExpression(where);
  if (!expression) {
    const auto& error = expression.error();
    return std::unexpected(error.message + (error.detail.empty() ? "" : " (" + error.detail + ")"));
  }
  RuleChecker checker(columns);
  Walker walker(checker, kMaxTreeDepth);
  if (auto s = walker.walk(*expression); !s) return std::unexpected(s.error().message);
  auto rule = std::make_shared<RuleTemplate>();
  rule->expression = std::move(*expression);
  return CompiledRule{std::move(rule), std::move(checker.columns)};
}

std::vector<pg_query::Node> rowRulePredicates(const ProtectedTable& table,
                                              const Principal& principal,
                                              const std::vector<std::string>& qualifier) {
  std::vector<pg_query::Node> out;
  for (const RowRule& rule : table.rules) {
    if (!rule.compiled || !rule.appliesTo(principal.role)) {
      out.push_back(falseConst());  // fail closed: a rule that cannot be applied denies
      continue;
    }
    pg_query::Node predicate = rule.compiled->expression;
    RuleInstance instance(principal, qualifier);
    Walker walker(instance, kMaxTreeDepth);
    const bool walked = walker.walk(predicate).has_value();
    out.push_back(walked && !instance.failed ? std::move(predicate) : falseConst());
  }
  return out;
}

pg_query::Node withRowRules(pg_query::Node first, const ProtectedTable& table,
                            const Principal& principal, const std::vector<std::string>& qualifier,
                            std::optional<pg_query::Node> rest) {
  std::vector<pg_query::Node> rules = rowRulePredicates(table, principal, qualifier);
  if (rules.empty() && !rest) return first;
  pg_query::Node both;
  auto* conjunction = both.mutable_bool_expr();
  conjunction->set_boolop(pg_query::AND_EXPR);
  *conjunction->add_args() = std::move(first);
  for (auto& rule : rules) *conjunction->add_args() = std::move(rule);
  if (rest) *conjunction->add_args() = std::move(*rest);
  return both;
}

std::optional<PgError> checkRowRuleWrite(
    const ProtectedTable& table, const Principal& principal,
    const std::map<std::string, const pg_query::Node*>& assigned, bool existing_row,
    std::string_view command) {
  const Prover prover(principal, assigned, existing_row);
  for (const RowRule& rule : table.rules) {
    if (!rule.compiled || !prover.holds(rule.compiled->expression, true))
      return ruleRefusal(table, rule, principal, command);
  }
  return std::nullopt;
}

std::optional<PgError> checkRowRuleInsert(const pg_query::InsertStmt& insert,
                                          const ProtectedTable& table, const Principal& principal) {
  if (table.rules.empty()) return std::nullopt;
  const auto& select = insert.select_stmt().select_stmt();
  if (!insert.select_stmt().has_select_stmt() || select.values_lists_size() == 0) {
    return protocol::makeError(
        protocol::sqlstate::kInsufficientPrivilege,
        "INSERT ... SELECT into " + table.name + " is not allowed under row rules of role '" +
            principal.role + "'",
        "its rows cannot be checked against the row rules before it runs; insert VALUES whose "
        "rule columns are constants");
  }
  for (const auto& row : select.values_lists()) {
    std::map<std::string, const pg_query::Node*> assigned;
    for (int i = 0; i < insert.cols_size(); ++i) {
      const auto& col = insert.cols(i).res_target();
      const bool plain =
          col.indirection_size() == 0 && row.has_list() && i < row.list().items_size();
      assigned[col.name()] = plain ? &row.list().items(i) : nullptr;
    }
    if (auto refused = checkRowRuleWrite(table, principal, assigned, false, "INSERT"))
      return refused;
  }
  return std::nullopt;
}

std::optional<PgError> checkRowRuleSet(
    const google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Principal& principal, std::string_view command) {
  if (table.rules.empty()) return std::nullopt;
  std::map<std::string, const pg_query::Node*> assigned;
  for (const auto& node : targets) {
    if (!node.has_res_target()) continue;  // the SET list checks refuse it
    const auto& target = node.res_target();
    const bool plain = target.indirection_size() == 0 && !target.val().has_multi_assign_ref();
    assigned[target.name()] = plain ? &target.val() : nullptr;
  }
  return checkRowRuleWrite(table, principal, assigned, true, command);
}

}  // namespace tenantwall::policy::sql
