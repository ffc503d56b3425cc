#include "policy/sql/fence_columns.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/nodes.h"
#include "policy/sql/parser.h"
#include "policy/sql/walker.h"

namespace tenantwall::policy::sql {
namespace {

// The name a column reference ends in, or null for `t.*`.
const std::string* lastField(const pg_query::ColumnRef& ref) {
  const int size = ref.fields_size();
  if (size == 0 || !ref.fields(size - 1).has_string()) return nullptr;
  return &ref.fields(size - 1).string().sval();
}

// Every way the statement names columns outside the fences. Fence interiors are not walked:
// what they name is the base table's columns, not the fence's.
class ColumnNames : public Visitor {
 public:
  explicit ColumnNames(const Policy& policy) : policy_(policy) {}

  bool knows(std::string_view) const override { return true; }

  Visit visit(google::protobuf::Message& node, pg_query::Node*, Walker&) override {
    const std::string& kind = node.GetDescriptor()->name();
    if (kind == "A_Star") {
      star = true;
    } else if (kind == "ColumnRef") {
      noteColumnRef(static_cast<const pg_query::ColumnRef&>(node));
    } else if (kind == "JoinExpr") {
      const auto& join = static_cast<const pg_query::JoinExpr&>(node);
      // NATURAL matches every column by name; a join alias names a row of all of them (`j`,
      // `j.*`) and its column list renames them by position.
      if (join.is_natural() || join.has_alias()) positional = true;
      for (const auto& name : join.using_clause())
        if (name.has_string()) names.insert(name.string().sval());
    } else if (kind == "RangeSubselect") {
      auto& range = static_cast<pg_query::RangeSubselect&>(node);
      if (fencedTable(range, policy_) != nullptr) {
        fences.push_back(&range);
        return Next::kDone;
      }
    }
    return Next::kChildren;
  }

  bool star = false;
  bool positional = false;
  std::set<std::string> names;                              // last field of every reference
  std::set<std::pair<std::string, std::string>> qualified;  // (qualifier, name)
  std::vector<pg_query::RangeSubselect*> fences;

 private:
  void noteColumnRef(const pg_query::ColumnRef& ref) {
    const std::string* name = lastField(ref);
    if (name == nullptr) return;  // `t.*`: its A_Star is seen
    names.insert(*name);
    const int size = ref.fields_size();
    if (size >= 2 && ref.fields(size - 2).has_string())
      qualified.emplace(ref.fields(size - 2).string().sval(), *name);
  }

  const Policy& policy_;
};

std::string outputName(const pg_query::ResTarget& target) {
  if (!target.name().empty()) return target.name();
  if (!target.val().has_column_ref()) return {};
  const std::string* name = lastField(target.val().column_ref());
  return name != nullptr ? *name : std::string();
}

void prune(pg_query::RangeSubselect& range, const ColumnNames& seen) {
  const std::string& alias = range.alias().aliasname();
  if (seen.names.contains(alias)) return;  // a whole-row reference takes every column
  auto& targets = *range.mutable_subquery()->mutable_select_stmt()->mutable_target_list();
  std::vector<std::string> columns;  // the fence's output names, in target order
  for (const auto& target : targets) {
    if (!target.has_res_target()) return;
    columns.push_back(outputName(target.res_target()));
    if (columns.back().empty()) return;
  }
  for (const auto& [qualifier, name] : seen.qualified)
    if (qualifier == alias && std::ranges::find(columns, name) == columns.end()) return;
  NodeList kept;
  for (int i = 0; i < targets.size(); ++i)
    if (seen.names.contains(columns[i])) *kept.Add() = std::move(targets[i]);
  targets.Swap(&kept);
}

}  // namespace

const ProtectedTable* fencedTable(const pg_query::RangeSubselect& range, const Policy& policy) {
  if (range.lateral() || !range.has_alias() || range.alias().colnames_size() > 0 ||
      !range.has_subquery() || !range.subquery().has_select_stmt())
    return nullptr;
  const auto& select = range.subquery().select_stmt();
  if (select.from_clause_size() != 1 || !select.from_clause(0).has_range_var() ||
      !select.has_where_clause() || !select.has_limit_offset())
    return nullptr;
  const auto& relation = select.from_clause(0).range_var();
  if (relation.has_alias()) return nullptr;
  return policy.findProtected(relation.schemaname(), relation.relname());
}

void pruneFenceColumns(pg_query::Node& statement, const Policy& policy) {
  ColumnNames seen(policy);
  // The fences add a few levels to what the parser accepted; deeper than the limit, as before.
  Walker walker(seen, kMaxTreeDepth + 16);
  if (!walker.walk(statement)) return;
  if (seen.star || seen.positional) return;
  for (pg_query::RangeSubselect* range : seen.fences) prune(*range, seen);
}

}  // namespace tenantwall::policy::sql
