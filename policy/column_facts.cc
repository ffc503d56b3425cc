#include "policy/column_facts.h"

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
