// Column masks as expression trees: each mask is SQL parsed once into a template, then cloned
// with the real column substituted, so no mask is ever built by pasting strings.
#pragma once

#include <expected>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// The masked form of column (a node, normally a schema-qualified ColumnRef). Every mask keeps
// NULL as NULL and names only pg_catalog functions and operators.
std::expected<pg_query::Node, protocol::PgError> maskExpression(MaskKind kind,
                                                                const pg_query::Node& column);

}  // namespace tenantwall::policy::sql
