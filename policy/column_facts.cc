#include "policy/column_facts.h"

#include <algorithm>

namespace tenantwall::policy {

std::shared_ptr<const Policy> annotateColumns(const Policy& policy, const ColumnFacts& facts,
                                              std::uint64_t version) {
  auto copy = std::make_shared<Policy>(policy);
  copy->version = version;
  for (auto& [key, table] : copy->protected_tables) {
    for (ColumnRule& column : table.columns) {
      column.leakproof_equality =
          facts.leakproof_equality.contains(table.schema + "." + table.name + "." + column.name);
    }
    const auto keys = facts.foreign_keys.find(table.schema + "." + table.name);
    table.foreign_keys =
        keys == facts.foreign_keys.end() ? std::vector<ForeignKey>{} : keys->second;
  }
  for (auto& [key, table] : copy->protected_tables) {
    const std::string name = table.schema + "." + table.name;
    table.has_children = facts.inherited.contains(name);
    table.global_unique_keys.clear();
    const auto unique = facts.unique_keys.find(name);
    if (unique == facts.unique_keys.end()) continue;
    for (const UniqueKey& candidate : unique->second) {
      if (std::ranges::find(candidate.columns, table.tenant_column) == candidate.columns.end())
        table.global_unique_keys.push_back(candidate);
    }
  }
  copy->foreign_keys_pending = !facts.foreign_keys_read;
  return copy;
}

const char* const kForeignKeysQuery =
    "SELECT n.nspname, c.relname, k.conname, rn.nspname, rc.relname, a.attname, ra.attname,"
    " tn.nspname, t.typname, u.ord"
    " FROM pg_catalog.pg_constraint k"
    " JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_catalog.pg_class rc ON rc.oid = k.confrelid"
    " JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
    " CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(k.conkey), pg_catalog.unnest(k.confkey))"
    " WITH ORDINALITY AS u(attnum, refattnum, ord)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum"
    " JOIN pg_catalog.pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.refattnum"
    " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
    " JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace"
    " WHERE k.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " ORDER BY 1, 2, 3, 10";

bool addForeignKeyRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row) {
  if (row.size() != 10) return false;
  for (const auto& field : row)
    if (!field) return false;
  auto& keys = facts.foreign_keys[*row[0] + "." + *row[1]];
  if (keys.empty() || keys.back().constraint != *row[2] ||
      *row[9] == "1") {  // rows come in key order, the first of a key at position 1
    keys.push_back(ForeignKey{
        .constraint = *row[2], .referenced_schema = *row[3], .referenced_table = *row[4]});
  }
  ForeignKey& key = keys.back();
  key.columns.push_back(*row[5]);
  key.referenced_columns.push_back(*row[6]);
  key.column_types.push_back({*row[7], *row[8]});
  return true;
}

// Key columns are the first indnkeyatts entries of indkey (INCLUDE columns do not make rows
// conflict); expression and predicate columns are the Vars of indexprs and indpred, read from
// their node text (":varattno N"; system columns are negative and whole-row references 0, so
// neither names a column). A partition's index also constrains writes through its ancestors.
const char* const kUniqueKeysQuery =
    "SELECT pn.nspname, pc.relname, i.indexrelid::pg_catalog.text, ic.relname, a.attname,"
    " CASE WHEN u.plain THEN 't' ELSE 'f' END"
    " FROM pg_catalog.pg_index i"
    " JOIN pg_catalog.pg_class c ON c.oid = i.indrelid"
    " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
    " CROSS JOIN LATERAL (SELECT c.oid UNION"
    " SELECT p.relid FROM pg_catalog.pg_partition_ancestors(c.oid) AS p(relid)) AS anc(relid)"
    " JOIN pg_catalog.pg_class pc ON pc.oid = anc.relid"
    " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
    " CROSS JOIN LATERAL (SELECT k.attnum, true FROM pg_catalog.unnest("
    "i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)"
    " WHERE k.ord <= i.indnkeyatts AND k.attnum > 0"
    " UNION SELECT m[1]::pg_catalog.int2, false FROM pg_catalog.regexp_matches("
    "pg_catalog.concat(i.indexprs::pg_catalog.text, ' ', i.indpred::pg_catalog.text),"
    " ':varattno (\\d+)', 'g') AS m) AS u(attnum, plain)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.attnum"
    " AND NOT a.attisdropped"
    " WHERE (i.indisunique OR i.indisexclusion)"
    " AND pn.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    " ORDER BY 1, 2, 3, 6 DESC, 5";

bool addUniqueKeyRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row) {
  if (row.size() != 6) return false;
  for (const auto& field : row)
    if (!field) return false;
  if (*row[5] != "t" && *row[5] != "f") return false;
  auto& keys = facts.unique_keys[*row[0] + "." + *row[1]];
  if (keys.empty() || keys.back().id != *row[2])
    keys.push_back(UniqueKey{.id = *row[2], .name = *row[3]});
  UniqueKey& key = keys.back();
  auto& columns = *row[5] == "t" ? key.columns : key.expression_columns;
  if (std::ranges::find(columns, *row[4]) == columns.end()) columns.push_back(*row[4]);
  return true;
}

const char* const kInheritedTablesQuery =
    "SELECT DISTINCT n.nspname, c.relname FROM pg_catalog.pg_inherits h"
    " JOIN pg_catalog.pg_class c ON c.oid = h.inhparent"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')";

bool addInheritedRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row) {
  if (row.size() != 2 || !row[0] || !row[1]) return false;
  facts.inherited.insert(*row[0] + "." + *row[1]);
  return true;
}

// The operator PostgreSQL picks for `column = value` takes the column's type, or a type the
// column is implicitly binary-coercible to (varchar to text), on one side; every such `=`
// must be leakproof. Domains and types without `=` are left out, so nothing is pushed for them.
const char* const kLeakproofColumnsQuery =
    "WITH cols AS ("
    " SELECT n.nspname, c.relname, a.attname, a.atttypid"
    " FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')),"
    " types AS ("
    " SELECT cols.atttypid AS typ, cols.atttypid AS via FROM cols"
    " UNION SELECT cols.atttypid, k.casttarget FROM cols JOIN pg_catalog.pg_cast k"
    " ON k.castsource = cols.atttypid AND k.castmethod = 'b' AND k.castcontext = 'i'),"
    " ops AS ("
    " SELECT types.typ, p.proleakproof FROM types JOIN pg_catalog.pg_operator o"
    " ON o.oprname = '=' AND (o.oprleft = types.via OR o.oprright = types.via)"
    " JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode)"
    " SELECT cols.nspname, cols.relname, cols.attname FROM cols"
    " WHERE EXISTS (SELECT 1 FROM ops WHERE ops.typ = cols.atttypid)"
    " AND NOT EXISTS (SELECT 1 FROM ops WHERE ops.typ = cols.atttypid AND NOT ops.proleakproof)";

}  // namespace tenantwall::policy
