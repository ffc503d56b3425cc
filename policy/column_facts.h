// What the live database says about the policy's columns that the policy itself cannot: for
// now, whose type has only leakproof `=` operators, which decides what may be pushed into a
// fence (policy/sql/pushdown.h); each table's foreign keys (policy/sql/foreign_key_guard.h) and
// unique keys (policy/sql/unique_key_guard.h); which tables have inheritance children or
// partitions (no EXPLAIN on them, policy/engine.cc). Read by the proxy from the catalogs at
// start, every 10 seconds and after every policy reload (proxy/server.cc).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/model.h"

namespace tenantwall::policy {

struct ColumnFacts {
  std::set<std::string> leakproof_equality;  // "schema.table.column"
  // The foreign keys of every table, by its "schema.table" (policy/sql/foreign_key_guard.h).
  std::map<std::string, std::vector<ForeignKey>> foreign_keys;
  bool foreign_keys_read = false;  // false: writes to protected tables are refused
  // The unique keys of every table, by its "schema.table" (policy/sql/unique_key_guard.h).
  std::map<std::string, std::vector<UniqueKey>> unique_keys;
  // "schema.table" of every table with inheritance children or partitions.
  std::set<std::string> inherited;

  friend bool operator==(const ColumnFacts&, const ColumnFacts&) = default;
};

// A copy of policy with each column's leakproof_equality set from facts (absent: false), each
// protected table's foreign keys, foreign_keys_pending unless they were read, and the given
// version, so decisions cached for the old annotations are never reused.
std::shared_ptr<const Policy> annotateColumns(const Policy& policy, const ColumnFacts& facts,
                                              std::uint64_t version);

// The query that reads the facts, one row (schema, table, column) per column whose type has an
// equality operator and only leakproof ones (counting types it is binary-coercible to).
extern const char* const kLeakproofColumnsQuery;

// The query that reads every foreign key, one row per key column: (schema, table, constraint,
// referenced schema, referenced table, column, referenced column, column type schema, column
// type name, position in the key from 1). Nine or more columns, so its rows cannot be mistaken
// for kLeakproofColumnsQuery's when both run in one simple query.
extern const char* const kForeignKeysQuery;

// Adds one row of kForeignKeysQuery to facts; false when the row has another shape.
bool addForeignKeyRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row);

// The query that reads every unique index (primary keys, unique constraints, partial and
// expression ones) and exclusion constraint, one row per column it reads: (schema, table,
// index oid, index name, column, 't' for a plain key column or 'f' for one its expressions or
// predicate read). An index of a partition is also reported for each partitioned ancestor,
// whose writes reach it. Six columns, unlike the other facts queries.
extern const char* const kUniqueKeysQuery;

// Adds one row of kUniqueKeysQuery to facts; false when the row has another shape.
bool addUniqueKeyRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row);

// The query that reads which tables have inheritance children or partitions: (schema, table),
// two columns, unlike the other facts queries.
extern const char* const kInheritedTablesQuery;

// Adds one row of kInheritedTablesQuery to facts; false when the row has another shape.
bool addInheritedRow(ColumnFacts& facts, const std::vector<std::optional<std::string>>& row);

}  // namespace tenantwall::policy
