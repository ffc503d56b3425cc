// Analysis and rewrite of one SELECT or write statement for one principal (DESIGN decisions 1
// to 5a).
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "pg_query_pb/pg_query.pb.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// What a rewritten statement reads or writes.
struct SelectRewrite {
  std::vector<std::string> relations;  // schema-qualified, first use first, no duplicates
  // Parameters ($n, 1-based) whose bound value must be the principal's tenant: compared with
  // or written to a tenant column. Checked by the proxy at Bind (Allowed::tenant_parameters).
  std::vector<int> tenant_parameters;
  bool tenant_parameter_written = false;  // one of them is written to a tenant column
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

// rewriteSelect() for a statement holding a SelectStmt, InsertStmt, UpdateStmt or DeleteStmt.
// Writes (write_rewriter.cc) must target a protected table; the target cannot be fenced, so:
// - INSERT forces the tenant column (appended to the column list, the tenant constant to every
//   VALUES row, or the source query wrapped as SELECT s.*, '<tenant>' FROM (<query>) s) or
//   checks it when given (a constant naming the principal's tenant, DEFAULT becomes the
//   tenant; anything else is refused); with no column list the visible columns in policy order
//   are written out;
// - UPDATE and DELETE get `<target>.tenant_col OPERATOR(pg_catalog.=) '<tenant>' AND (<their
//   WHERE>)`, and so does ON CONFLICT DO UPDATE for the existing row; SET may name the tenant
//   column only with the principal's own tenant;
// - target columns read anywhere in the statement are the secured relation's: a masked column
//   reads as its mask, a hidden one is refused; RETURNING * lists the visible columns.
std::expected<SelectRewrite, protocol::PgError> rewriteStatement(pg_query::Node& statement,
                                                                 const Principal& principal,
                                                                 const Policy& policy);

// Rewrites free-standing expressions (EXECUTE's arguments) exactly as a select list.
std::expected<SelectRewrite, protocol::PgError> rewriteExpressions(
    google::protobuf::RepeatedPtrField<pg_query::Node>& expressions, const Principal& principal,
    const Policy& policy);

// Checks a type name against the allowlist and qualifies it, as in a cast (PREPARE's parameter
// types use it).
std::expected<void, protocol::PgError> qualifyType(pg_query::TypeName& type);

}  // namespace tenantwall::policy::sql
