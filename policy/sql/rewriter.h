// Analysis and rewrite of one SELECT statement for one principal (DESIGN decisions 1 to 5a).
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// What a rewritten SELECT reads.
struct SelectRewrite {
  std::vector<std::string> relations;  // schema-qualified, first use first, no duplicates
};

// Rewrites statement (a Node holding a SelectStmt) in place, or refuses it:
// - every reference to a protected table, wherever it stands, becomes the fenced secured
//   subquery (SELECT <visible columns, masks applied> FROM schema.t WHERE schema.t.tenant_col
//   OPERATOR(pg_catalog.=) '<tenant>' OFFSET 0) AS <alias>;
// - reference tables are schema-qualified, CTE names are left alone, any other relation is
//   refused;
// - functions, types and operators must be allowed pg_catalog ones and are qualified;
// - comparisons of a tenant column with another tenant's id are refused;
// - any node kind not known to be harmless in a SELECT is refused.
// On failure the statement is left half-rewritten and must not be used.
std::expected<SelectRewrite, protocol::PgError> rewriteSelect(pg_query::Node& statement,
                                                              const Principal& principal,
                                                              const Policy& policy);

}  // namespace tenantwall::policy::sql
