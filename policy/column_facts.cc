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
  }
  return copy;
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
