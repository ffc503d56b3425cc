// Name resolution of column references in a write, against the target's visible columns and the
// relations whose columns are known (fences, subqueries with plain output names).
#include "policy/sql/write_columns.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "policy/sql/masks.h"
#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/walker.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using google::protobuf::Message;
using protocol::PgError;

PgError refusedColumn(std::string message, std::string hint) {
  return protocol::makeError(protocol::sqlstate::kInsufficientPrivilege, std::move(message),
                             std::move(hint));
}

enum class Role { kOther, kTarget, kExcluded };

// A relation in scope: the name columns are qualified with, and its columns when known.
struct Item {
  std::string name;
  std::string schema;  // set only where schema.name.column may qualify it
  std::optional<std::vector<std::string>> columns;
  Role role = Role::kOther;
};

// The protected table a fence reads, when select is one of the rewriter's fences: after the
// rewrite every protected RangeVar stands alone in the FROM of one.
const ProtectedTable* fencedTable(const pg_query::SelectStmt& select, const Policy& policy) {
  if (select.from_clause_size() != 1) return nullptr;
  const pg_query::Node& from = select.from_clause(0);
  const pg_query::RangeVar* relation = nullptr;
  if (from.has_range_var()) relation = &from.range_var();
  if (from.has_range_table_sample() && from.range_table_sample().relation().has_range_var())
    relation = &from.range_table_sample().relation().range_var();
  if (relation == nullptr) return nullptr;
  return policy.findProtected(relation->schemaname(), relation->relname());
}

// Appends the output names of a select list or RETURNING list to names (the first ones may
// come from an alias), when every one is certain: an explicit name or a plain column
// reference. Anything else (expressions, `*`) leaves them unknown.
std::optional<std::vector<std::string>> targetNames(const NodeList& targets,
                                                    std::vector<std::string> names) {
  for (int i = static_cast<int>(names.size()); i < targets.size(); ++i) {
    if (!targets[i].has_res_target()) return std::nullopt;
    const auto& res = targets[i].res_target();
    if (!res.name().empty()) {
      names.push_back(res.name());
      continue;
    }
    if (!res.val().has_column_ref()) return std::nullopt;
    const auto fields = stringNames(res.val().column_ref().fields());
    if (!fields || fields->empty()) return std::nullopt;  // t.* or *
    names.push_back(fields->back());
  }
  return names;
}

std::optional<std::vector<std::string>> aliasNames(const NodeList& colnames) {
  std::vector<std::string> names;
  for (const auto& colname : colnames) {
    if (!colname.has_string()) return std::nullopt;
    names.push_back(colname.string().sval());
  }
  return names;
}

// Output names of a query (a subquery in FROM or a CTE body), renamed by colnames.
std::optional<std::vector<std::string>> outputNames(const pg_query::Node& query,
                                                    const NodeList& colnames) {
  auto names = aliasNames(colnames);
  if (!names) return std::nullopt;
  if (query.has_select_stmt()) {
    const auto& select = query.select_stmt();
    if (select.op() != pg_query::SETOP_NONE || select.values_lists_size() > 0) {
      if (names->empty()) return std::nullopt;
      return names;  // only the aliased ones are certain; the rest stay out of reach by name
    }
    return targetNames(select.target_list(), std::move(*names));
  }
  if (query.has_insert_stmt()) return targetNames(query.insert_stmt().returning_list(), *names);
  if (query.has_update_stmt()) return targetNames(query.update_stmt().returning_list(), *names);
  if (query.has_delete_stmt()) return targetNames(query.delete_stmt().returning_list(), *names);
  return std::nullopt;
}

class TargetColumns final : public Visitor {
 public:
  TargetColumns(const WriteTarget& target, const Policy& policy)
      : target_(target), policy_(policy) {}

  // The write's own level: the target, `excluded` for INSERT, and its FROM or USING items.
  void openWriteLevel(const NodeList* from, const pg_query::WithClause* with) {
    if (with != nullptr) enterWith(*with);
    levels_.emplace_back();
    std::vector<std::string> visible;
    for (const ColumnRule& column : target_.table->columns) visible.push_back(column.name);
    levels_.back().push_back({target_.name, target_.schema, visible, Role::kTarget});
    if (target_.insert) levels_.back().push_back({"excluded", {}, visible, Role::kExcluded});
    if (from != nullptr) {
      for (const auto& item : *from) addItems(item, levels_.back());
    }
  }

  bool knows(std::string_view) const override { return true; }  // the rewriter checked kinds

  Visit visit(Message& node, pg_query::Node* wrapper, Walker& walker) override {
    const std::string& kind = node.GetDescriptor()->name();
    if (kind == "RangeSubselect") {
      const auto& range = static_cast<const pg_query::RangeSubselect&>(node);
      if (range.has_subquery() && range.subquery().has_select_stmt() &&
          fencedTable(range.subquery().select_stmt(), policy_) != nullptr)
        return Next::kDone;  // a fence reads its table on purpose
      return Next::kChildren;
    }
    if (kind == "SelectStmt") {
      auto& select = static_cast<pg_query::SelectStmt&>(node);
      const std::size_t ctes = ctes_.size();
      if (select.has_with_clause()) enterWith(select.with_clause());
      levels_.emplace_back();
      for (const auto& item : select.from_clause()) addItems(item, levels_.back());
      auto s = walker.walkFields(select);
      levels_.pop_back();
      ctes_.resize(ctes);
      if (!s) return std::unexpected(s.error());
      return Next::kDone;
    }
    if (kind == "ResTarget") return onResTarget(static_cast<pg_query::ResTarget&>(node), walker);
    if (kind == "ColumnRef" && wrapper != nullptr) {
      auto replaced = secure(*wrapper);
      if (!replaced) return std::unexpected(replaced.error());
      return *replaced ? Next::kDone : Next::kChildren;
    }
    return Next::kChildren;
  }

 private:
  using Cte = std::pair<std::string, std::optional<std::vector<std::string>>>;

  void enterWith(const pg_query::WithClause& with) {
    ctes_.emplace_back();
    for (const auto& node : with.ctes()) {
      if (!node.has_common_table_expr()) continue;
      const auto& cte = node.common_table_expr();
      ctes_.back().emplace_back(cte.ctename(), outputNames(cte.ctequery(), cte.aliascolnames()));
    }
  }

  // The columns of a CTE an unqualified relation name denotes, innermost WITH first.
  std::optional<std::vector<std::string>> cteColumns(const pg_query::RangeVar& relation) const {
    if (!relation.schemaname().empty()) return std::nullopt;
    for (auto scope = ctes_.rbegin(); scope != ctes_.rend(); ++scope) {
      for (const auto& [name, columns] : *scope) {
        if (name != relation.relname()) continue;
        if (!columns || !relation.has_alias()) return columns;
        auto renamed = aliasNames(relation.alias().colnames());
        if (!renamed) return std::nullopt;
        for (std::size_t i = renamed->size(); i < columns->size(); ++i)
          renamed->push_back((*columns)[i]);
        return renamed;
      }
    }
    return std::nullopt;
  }

  Visit onResTarget(pg_query::ResTarget& target, Walker& walker) {
    if (target.has_val() && target.val().has_column_ref()) {
      const auto names = stringNames(target.val().column_ref().fields());
      auto replaced = secure(*target.mutable_val());
      if (!replaced) return std::unexpected(replaced.error());
      // A masked column keeps its name in a select list or RETURNING, as in the fence.
      if (*replaced && target.name().empty() && names && !names->empty())
        target.set_name(names->back());
      if (auto s = walker.walkFields(target, {"val"}); !s) return std::unexpected(s.error());
      if (!*replaced) {
        if (auto s = walker.walkFields(*target.mutable_val()->mutable_column_ref()); !s)
          return std::unexpected(s.error());
      }
      return Next::kDone;
    }
    return Next::kChildren;
  }

  void addItems(const pg_query::Node& from, std::vector<Item>& out) const {
    if (from.has_range_var()) {
      // A reference table (unknown columns) or a CTE (known when its outputs are plain).
      const auto& relation = from.range_var();
      if (relation.has_alias()) {
        out.push_back({relation.alias().aliasname(), {}, cteColumns(relation)});
      } else {
        out.push_back({relation.relname(), relation.schemaname(), cteColumns(relation)});
      }
    } else if (from.has_range_table_sample()) {
      addItems(from.range_table_sample().relation(), out);
    } else if (from.has_range_subselect()) {
      const auto& range = from.range_subselect();
      const pg_query::Alias* alias = range.has_alias() ? &range.alias() : nullptr;
      Item item{alias != nullptr ? alias->aliasname() : std::string(), {}, std::nullopt};
      if (range.has_subquery() && range.subquery().has_select_stmt()) {
        const auto& select = range.subquery().select_stmt();
        if (const ProtectedTable* table = fencedTable(select, policy_)) {
          std::vector<std::string> columns;
          for (std::size_t i = 0; i < table->columns.size(); ++i) {
            const bool renamed = alias != nullptr && static_cast<int>(i) < alias->colnames_size();
            columns.push_back(renamed ? alias->colnames(static_cast<int>(i)).string().sval()
                                      : table->columns[i].name);
          }
          item.columns = std::move(columns);
        } else {
          item.columns =
              outputNames(range.subquery(), alias != nullptr ? alias->colnames() : NodeList{});
        }
      }
      out.push_back(std::move(item));
    } else if (from.has_range_function()) {
      const auto& range = from.range_function();
      out.push_back(
          {range.has_alias() ? range.alias().aliasname() : std::string(), {}, std::nullopt});
    } else if (from.has_join_expr()) {
      const auto& join = from.join_expr();
      addItems(join.larg(), out);
      addItems(join.rarg(), out);
      if (join.has_alias()) out.push_back({join.alias().aliasname(), {}, std::nullopt});
    } else {
      out.push_back({{}, {}, std::nullopt});  // nothing else stands in FROM: unknown columns
    }
  }

  // Replaces a masked target column by its mask (true), leaves other references alone
  // (false), or refuses.
  std::expected<bool, PgError> secure(pg_query::Node& wrapper) {
    const auto& ref = wrapper.column_ref();
    const bool star = ref.fields_size() > 0 && ref.fields(ref.fields_size() - 1).has_a_star();
    std::vector<std::string> names;
    for (int i = 0; i < ref.fields_size() - (star ? 1 : 0); ++i) {
      if (!ref.fields(i).has_string()) return false;
      names.push_back(ref.fields(i).string().sval());
    }
    if (star) {
      if (names.empty()) {
        if (levels_.size() > 1) return false;  // a subquery's own `*`
        return std::unexpected(wholeRow());
      }
      const Item* item = qualifier(names);
      if (item != nullptr && item->role == Role::kTarget) return std::unexpected(wholeRow());
      return false;
    }
    if (names.size() >= 2) {
      const Item* item = qualifier({names.begin(), names.end() - 1});
      if (item == nullptr || item->role == Role::kOther) return false;
      return targetColumn(wrapper, names.back(), item->role, false);
    }
    return unqualified(wrapper, names.empty() ? std::string() : names.front());
  }

  // The item a qualifier (table, or schema and table) names, innermost level first.
  const Item* qualifier(const std::vector<std::string>& names) const {
    if (names.empty() || names.size() > 2) return nullptr;
    const std::string& table = names.back();
    const std::string schema = names.size() == 2 ? names.front() : std::string();
    for (auto level = levels_.rbegin(); level != levels_.rend(); ++level) {
      for (const Item& item : *level) {
        if (item.name == table && (schema.empty() || schema == item.schema)) return &item;
      }
    }
    return nullptr;
  }

  std::expected<bool, PgError> unqualified(pg_query::Node& wrapper, const std::string& column) {
    bool uncertain = false;      // a relation with unknown columns stood closer than the match
    bool unknown_other = false;  // some relation besides the target has unknown columns
    for (auto level = levels_.rbegin(); level != levels_.rend(); ++level) {
      const Item* match = nullptr;
      bool maybe = false;
      for (const Item& item : *level) {
        if (item.role == Role::kExcluded) continue;  // only reachable as excluded.column
        if (!item.columns) {
          maybe = true;
          unknown_other = true;
        } else if (std::ranges::find(*item.columns, column) != item.columns->end()) {
          if (match == nullptr || item.role == Role::kTarget) match = &item;
        } else if (item.role == Role::kTarget) {
          maybe = true;  // a hidden column of the target
        }
      }
      if (match != nullptr) {
        if (match->role != Role::kTarget) return false;
        return targetColumn(wrapper, column, Role::kTarget, uncertain);
      }
      uncertain = uncertain || maybe;
    }
    if (column == target_.name) return std::unexpected(wholeRow());
    if (!unknown_other) {
      return std::unexpected(refusedColumn(
          "column " + target_.name + "." + column + " is not visible under the tenantwall policy",
          "the columns of " + target_.table->name + " are the visible columns its policy lists"));
    }
    return std::unexpected(refusedColumn(
        "column " + column + " is not a visible column of " + target_.table->name +
            ", and tenantwall cannot tell which other relation it belongs to",
        "in a write, qualify the columns of other relations with their table name or alias"));
  }

  std::expected<bool, PgError> targetColumn(pg_query::Node& wrapper, const std::string& column,
                                            Role role, bool uncertain) {
    const ColumnRule* rule = target_.table->findColumn(column);
    const std::string shown = role == Role::kExcluded ? "excluded" : target_.name;
    if (rule == nullptr) {
      return std::unexpected(refusedColumn(
          "column " + shown + "." + column + " is not visible under the tenantwall policy",
          "the columns of " + target_.table->name + " are the visible columns its policy lists"));
    }
    if (!rule->mask || role == Role::kExcluded) return false;  // excluded holds the new values
    if (uncertain) {
      return std::unexpected(
          refusedColumn("column " + column + " is ambiguous in a write to " + target_.table->name +
                            ": it may be its masked column",
                        "qualify it with the name or alias of the relation it belongs to"));
    }
    auto masked = maskExpression(*rule->mask, wrapper);
    if (!masked) return std::unexpected(masked.error());
    wrapper = std::move(*masked);
    return true;
  }

  PgError wholeRow() const {
    return refusedColumn("a whole-row reference to " + target_.table->name +
                             " is not allowed in a write under the tenantwall policy",
                         "name the columns you need (RETURNING * lists the visible ones)");
  }

  const WriteTarget& target_;
  const Policy& policy_;
  std::vector<std::vector<Item>> levels_;
  std::vector<std::vector<Cte>> ctes_;
};

// Walks the parts of a write in which the target's row is in scope.
template <typename... Fields>
std::expected<void, PgError> walkAll(Walker& walker, Fields*... fields) {
  std::expected<void, PgError> result;
  auto one = [&](Message* field) {
    if (result && field != nullptr) result = walker.walk(*field);
  };
  (one(fields), ...);
  return result;
}

std::expected<void, PgError> walkList(Walker& walker, NodeList& list) {
  for (auto& node : list) {
    if (auto s = walker.walk(node); !s) return s;
  }
  return {};
}

}  // namespace

std::expected<void, PgError> secureTargetColumns(Message& write, const WriteTarget& target,
                                                 const Policy& policy) {
  TargetColumns resolver(target, policy);
  Walker walker(resolver, kMaxTreeDepth);
  const std::string& kind = write.GetDescriptor()->name();
  if (kind == "UpdateStmt") {
    auto& update = static_cast<pg_query::UpdateStmt&>(write);
    resolver.openWriteLevel(&update.from_clause(),
                            update.has_with_clause() ? &update.with_clause() : nullptr);
    if (auto s = walkList(walker, *update.mutable_from_clause()); !s) return s;
    if (auto s = walkList(walker, *update.mutable_target_list()); !s) return s;
    if (auto s =
            walkAll(walker, update.has_where_clause() ? update.mutable_where_clause() : nullptr);
        !s)
      return s;
    return walkList(walker, *update.mutable_returning_list());
  }
  if (kind == "DeleteStmt") {
    auto& remove = static_cast<pg_query::DeleteStmt&>(write);
    resolver.openWriteLevel(&remove.using_clause(),
                            remove.has_with_clause() ? &remove.with_clause() : nullptr);
    if (auto s = walkList(walker, *remove.mutable_using_clause()); !s) return s;
    if (auto s =
            walkAll(walker, remove.has_where_clause() ? remove.mutable_where_clause() : nullptr);
        !s)
      return s;
    return walkList(walker, *remove.mutable_returning_list());
  }
  if (kind == "InsertStmt") {
    // The source rows cannot see the target; ON CONFLICT and RETURNING can.
    auto& insert = static_cast<pg_query::InsertStmt&>(write);
    resolver.openWriteLevel(nullptr, nullptr);
    if (insert.has_on_conflict_clause()) {
      auto& conflict = *insert.mutable_on_conflict_clause();
      if (auto s = walkList(walker, *conflict.mutable_target_list()); !s) return s;
      if (auto s = walkAll(walker,
                           conflict.has_where_clause() ? conflict.mutable_where_clause() : nullptr,
                           conflict.has_infer() ? conflict.mutable_infer() : nullptr);
          !s)
        return s;
    }
    return walkList(walker, *insert.mutable_returning_list());
  }
  return std::unexpected(unsupportedNode(kind));
}

}  // namespace tenantwall::policy::sql
