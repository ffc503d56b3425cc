// What the live database says about the policy's columns that the policy itself cannot: for
// now, whose type has only leakproof `=` operators, which decides what may be pushed into a
// fence (policy/sql/pushdown.h). Read by the proxy from pg_attribute, pg_operator and pg_proc.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "policy/model.h"

namespace tenantwall::policy {

struct ColumnFacts {
  std::set<std::string> leakproof_equality;  // "schema.table.column"

  friend bool operator==(const ColumnFacts&, const ColumnFacts&) = default;
};

// A copy of policy with each column's leakproof_equality set from facts (absent: false), and
// the given version, so decisions cached for the old annotations are never reused.
std::shared_ptr<const Policy> annotateColumns(const Policy& policy, const ColumnFacts& facts,
                                              std::uint64_t version);

// The query that reads the facts, one row (schema, table, column) per column whose type has an
// equality operator and only leakproof ones (counting types it is binary-coercible to).
extern const char* const kLeakproofColumnsQuery;

}  // namespace tenantwall::policy
