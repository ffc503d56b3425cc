// Wins back index use through the fence (DESIGN decision 2), the way PostgreSQL does for
// security-barrier views: a top-level WHERE conjunct that compares a fenced column with a
// constant or parameter (`c.id = 5`, `id = $1`, `c.status IN ('a', 'b')`) is copied into that
// fence's WHERE, next to the tenant filter, when the column is shown unmasked and its type's
// equality operators are all leakproof (ColumnRule::leakproof_equality, read from the live
// database). An error or side effect of the copy cannot depend on another tenant's row, because
// a leakproof operator has none. The conjunct leaves the WHERE (PostgreSQL would test every row
// twice) unless the fence is on the nullable side of an outer join, whose null-extended rows it
// must still remove; either way the result is unchanged.
#pragma once

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"

namespace tenantwall::policy::sql {

// select has been analysed and its FROM items fenced; copies what qualifies into the fences.
void pushDownEqualities(pg_query::SelectStmt& select, const Policy& policy);

}  // namespace tenantwall::policy::sql
