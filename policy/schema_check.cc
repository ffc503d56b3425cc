// Policy tables and columns against the live schema's.
#include "policy/schema_check.h"

namespace tenantwall::policy {
namespace {

std::string where(const Policy& policy, const std::string& key) {
  const auto it = policy.positions.find(key);
  if (it == policy.positions.end()) return policy.source + ": ";
  return policy.source + ":" + std::to_string(it->second.line) + ":" +
         std::to_string(it->second.column) + ": ";
}

}  // namespace

const char* const kSchemaColumnsQuery =
    "SELECT n.nspname::text, c.relname::text, a.attname::text"
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
    " AND NOT a.attisdropped"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

SchemaColumns schemaColumnsFromRows(
    const std::vector<std::vector<std::optional<std::string>>>& rows) {
  SchemaColumns schema;
  for (const auto& row : rows) {
    if (row.size() != 3 || !row[0] || !row[1]) continue;
    auto& columns = schema[*row[0] + "." + *row[1]];
    if (row[2]) columns.insert(*row[2]);
  }
  return schema;
}

std::vector<std::string> checkPolicySchema(const Policy& policy, const SchemaColumns& schema) {
  std::vector<std::string> errors;
  for (const auto& [key, table] : policy.protected_tables) {
    const auto live = schema.find(key);
    if (live == schema.end()) {
      errors.push_back(where(policy, key) + "protected table " + key +
                       " does not exist in the database");
      continue;
    }
    std::vector<std::string> columns = {table.tenant_column};
    for (const ColumnRule& column : table.columns)
      if (column.name != table.tenant_column) columns.push_back(column.name);
    for (const std::string& column : columns) {
      if (live->second.contains(column)) continue;
      errors.push_back(where(policy, key + "." + column) + "column " + key + "." + column +
                       " does not exist in the database");
    }
  }
  for (const std::string& key : policy.reference_tables) {
    if (!schema.contains(key))
      errors.push_back(where(policy, key) + "reference table " + key +
                       " does not exist in the database");
  }
  return errors;
}

}  // namespace tenantwall::policy
