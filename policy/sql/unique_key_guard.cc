// Refusals of writes that choose values of keys unique across tenants (unique_key_guard.h).
#include "policy/sql/unique_key_guard.h"

#include <algorithm>
#include <set>

#include "policy/sql/foreign_key_guard.h"
#include "protocol/sqlstate.h"

namespace tenantwall::policy::sql {
namespace {

using protocol::PgError;
namespace sqlstate = protocol::sqlstate;

// The global key that guards column, or nullptr.
const UniqueKey* guardingKey(const ProtectedTable& table, const std::string& column) {
  if (column == table.tenant_column) return nullptr;
  for (const UniqueKey& key : table.global_unique_keys) {
    if (std::ranges::find(key.columns, column) != key.columns.end() ||
        std::ranges::find(key.expression_columns, column) != key.expression_columns.end())
      return &key;
  }
  return nullptr;
}

std::string perTenantHint(const ProtectedTable& table, const UniqueKey& key,
                          const std::string& column) {
  std::string columns = table.tenant_column;
  for (const auto& name : key.columns.empty() ? std::vector<std::string>{column} : key.columns)
    columns.append(", ").append(name);
  return "leave it out so the database assigns it, or make the key unique per tenant: UNIQUE (" +
         columns + ")";
}

PgError chosenValue(const ProtectedTable& table, const UniqueKey& key, const std::string& column) {
  return protocol::makeError(sqlstate::kInsufficientPrivilege,
                             "column " + table.name + "." + column +
                                 " is unique across all tenants: a tenant cannot choose its value",
                             perTenantHint(table, key, column));
}

bool isDefault(const pg_query::Node& value) {
  const pg_query::Node* node = &value;
  while (node->has_type_cast() && node->type_cast().has_arg()) node = &node->type_cast().arg();
  return node->has_set_to_default();
}

// The arbiter of ON CONFLICT, when it is a global key: PostgreSQL infers a unique index whose
// key columns are exactly the ones named, or takes the constraint named.
const UniqueKey* globalArbiter(const pg_query::OnConflictClause& clause,
                               const ProtectedTable& table) {
  if (!clause.has_infer()) return nullptr;
  const auto& infer = clause.infer();
  std::set<std::string> named;
  for (const auto& elem : infer.index_elems())
    if (elem.has_index_elem()) named.insert(elem.index_elem().name());
  for (const UniqueKey& key : table.global_unique_keys) {
    if (!infer.conname().empty() && infer.conname() == key.name) return &key;
    if (!named.empty() && named == std::set<std::string>(key.columns.begin(), key.columns.end()))
      return &key;
  }
  return nullptr;
}

}  // namespace

std::optional<PgError> checkInsertUniqueKeys(const pg_query::InsertStmt& insert,
                                             const ProtectedTable& table, const Policy& policy) {
  if (auto refusal = checkForeignKeysKnown(policy)) return refusal;
  if (table.global_unique_keys.empty()) return std::nullopt;
  const pg_query::SelectStmt* select =
      insert.has_select_stmt() && insert.select_stmt().has_select_stmt()
          ? &insert.select_stmt().select_stmt()
          : nullptr;
  for (int i = 0; i < insert.cols_size(); ++i) {
    const std::string& column = insert.cols(i).res_target().name();
    const UniqueKey* key = guardingKey(table, column);
    if (key == nullptr) continue;
    // Only a VALUES list whose every row gives DEFAULT leaves the value to the database.
    bool all_default = select != nullptr && select->values_lists_size() > 0;
    if (all_default) {
      for (const auto& row : select->values_lists()) {
        if (!row.has_list() || row.list().items_size() <= i || !isDefault(row.list().items(i)))
          all_default = false;
      }
    }
    if (!all_default) return chosenValue(table, *key, column);
  }
  if (insert.has_on_conflict_clause()) {
    const auto& clause = insert.on_conflict_clause();
    if (const UniqueKey* key = globalArbiter(clause, table)) {
      return protocol::makeError(
          sqlstate::kInsufficientPrivilege,
          "ON CONFLICT on " + table.name + " cannot use key " + key->name +
              ": it is unique across all tenants, so a conflict would reveal another tenant's row",
          "use a key unique per tenant, one that includes " + table.tenant_column);
    }
    if (clause.action() == pg_query::ONCONFLICT_UPDATE)
      return checkSetUniqueKeys(clause.target_list(), table, policy);
  }
  return std::nullopt;
}

std::optional<PgError> checkSetUniqueKeys(
    const google::protobuf::RepeatedPtrField<pg_query::Node>& targets, const ProtectedTable& table,
    const Policy& policy) {
  if (auto refusal = checkForeignKeysKnown(policy)) return refusal;
  for (const auto& node : targets) {
    if (!node.has_res_target()) continue;  // refused by the SET list checks
    const auto& target = node.res_target();
    const UniqueKey* key = guardingKey(table, target.name());
    if (key == nullptr) continue;
    const pg_query::Node* value = &target.val();
    if (value->has_multi_assign_ref()) {  // SET (a, b) = ROW(...): this column's item
      const auto& assign = value->multi_assign_ref();
      const int item = assign.colno() - 1;
      value = nullptr;
      if (assign.source().has_row_expr() && item >= 0 &&
          item < assign.source().row_expr().args_size())
        value = &assign.source().row_expr().args(item);
    }
    if (value == nullptr || target.indirection_size() > 0 || !isDefault(*value))
      return chosenValue(table, *key, target.name());
  }
  return std::nullopt;
}

std::optional<PgError> checkCopyUniqueKeys(const ProtectedTable& table,
                                           const std::vector<std::string>& columns,
                                           const Policy& policy) {
  if (auto refusal = checkForeignKeysKnown(policy)) return refusal;
  std::vector<std::string> written = columns;
  if (written.empty())
    for (const ColumnRule& column : table.columns) written.push_back(column.name);
  for (const auto& column : written) {
    if (const UniqueKey* key = guardingKey(table, column)) return chosenValue(table, *key, column);
  }
  return std::nullopt;
}

}  // namespace tenantwall::policy::sql
