// Which literals of a shared rewrite (policy/literal_shape.h) PostgreSQL may receive as
// parameters of a prepared statement instead of in the text, with the very same meaning. Only
// constants in a value position qualify: an operand of a comparison (= <> != < > <= >=), an
// element of an IN list or a BETWEEN bound. An integer there is int4 as a literal and as a
// parameter typed int4; a string there is an untyped literal and an untyped parameter, both
// resolved from a column on the other side (required). Anywhere else a constant may mean
// something else as a parameter (ORDER BY 1, a type modifier, LIMIT's planning), so it stays.
#pragma once

#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/literal_shape.h"

namespace tenantwall::policy::sql {

// tree: the parsed rewrite of the shape's probe text (probeText). One flag per literal of the
// shape: true when every occurrence of its probe is in a value position (and there is one).
std::vector<bool> literalsAsParameters(pg_query::ParseResult& tree, const LiteralShape& shape);

}  // namespace tenantwall::policy::sql
