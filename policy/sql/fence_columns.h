// Fences carry every visible column of their table (DESIGN decision 2). PostgreSQL cannot
// drop unused columns from an OFFSET 0 subquery, so each one costs a projection per row and
// keeps the Subquery Scan in the plan; a key lookup through a fence ran about 12% more CPU on
// the server than through one holding only the named columns (tests/bench, prepared c=8).
#pragma once

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"

namespace tenantwall::policy::sql {

// The protected table a fence made by the rewriter reads: a subquery, not LATERAL, with an
// alias without column names, whose only FROM item is the bare protected table (a user's own
// subquery over that table would have had it fenced in turn), with a WHERE and an OFFSET.
// Null for any other FROM item.
const ProtectedTable* fencedTable(const pg_query::RangeSubselect& range, const Policy& policy);

// Removes from the fences of a rewritten statement the columns nothing outside them can name.
// A fence keeps all of its columns when the statement could reach them other than by name: a
// `*` anywhere, a NATURAL join, an aliased join, a whole-row reference to its alias, or its alias
// qualifying a name that is not one of its columns (function notation, `c.f` meaning `f(c)`). The
// result is unchanged: a fence's rows are the same, only columns no expression reads are gone.
void pruneFenceColumns(pg_query::Node& statement, const Policy& policy);

}  // namespace tenantwall::policy::sql
