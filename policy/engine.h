// The decision for one simple-query string: refuse it, or forward a rewritten version that can
// only see the principal's slice with masks applied. Pure: no I/O, no global mutable state.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/explain_render.h"
#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy {

struct Allowed {
  std::string sql;                           // what to send to PostgreSQL (deparsed from the tree)
  std::vector<std::string> statement_kinds;  // e.g. "SELECT", "BEGIN", one per statement
  std::vector<std::string> relations;  // schema-qualified relations the statement reads or writes

  // Set for `COPY <protected table> [(columns)] FROM STDIN` (then the only statement of the
  // string): how the proxy must read the CopyData rows and check, or supply, the tenant of each
  // before PostgreSQL sees it (see PostgreSQL documentation, COPY, "File Formats").
  struct CopyIn {
    std::string format;       // "text" or "csv" (binary is refused)
    char delimiter = '\t';    // text default '\t', csv default ','
    bool header = false;      // the first line is a header line: forward it unchecked
    std::string null_string;  // text default "\\N", csv default ""
    char quote = '\0';        // csv only (default '"'); '\0' for text
    char escape = '\0';       // csv only (default: the quote); '\0' for text (backslash escapes)
    // The column list of the rewritten COPY, in order; the tenant column is always in it.
    std::vector<std::string> columns;
    int tenant_column_index = 0;  // position of the tenant column in `columns`
    // True when the client's list left the tenant column out: the rewritten COPY names it
    // last, the client sends columns.size() - 1 fields, and the proxy appends the tenant as
    // the last field of every row. False: the client sends every column, and the field at
    // tenant_column_index must be exactly `tenant`.
    bool tenant_appended = false;
    std::string tenant;  // the principal's tenant id
  };
  std::optional<CopyIn> copy_in;

  // Set for EXPLAIN ANALYZE (then the only statement of the string): PostgreSQL is asked for
  // the plan as FORMAT JSON, and the client gets renderPlan() of it in this format
  // (policy/explain_render.h) instead of PostgreSQL's answer.
  std::optional<PlanFormat> render_plan;

  // Parameters ($n, 1-based) of an extended-protocol statement whose bound values must be the
  // principal's tenant (`INSERT ... (tenant_col) VALUES ($1)`, `WHERE tenant_col = $1`): the
  // proxy refuses a Bind that gives another value (checkTenantParameters).
  std::vector<int> tenant_parameters;

  // The statement leaves state in the database session past its transaction (SET or RESET
  // without LOCAL, PREPARE, DECLARE ... WITH HOLD): with pool.mode transaction the proxy keeps
  // this client's backend connection to itself until it disconnects.
  bool session_state = false;

  // SQL-level prepared statements the string names, in statement order: PREPARE's, EXECUTE's
  // (EXPLAIN EXECUTE's too) and DEALLOCATE's ("" for DEALLOCATE ALL). A statement PREPAREd under
  // one policy keeps that policy's rewrite in PostgreSQL: the proxy checks it again at EXECUTE
  // after a reload, and forgets it once a DEALLOCATE succeeds.
  std::vector<std::string> prepared_names;
  std::vector<std::string> executed_names;
  std::vector<std::string> deallocated_names;
};

// Either the SQL to forward, or the refusal with SQLSTATE, message and hint.
using Decision = std::expected<Allowed, protocol::PgError>;

// Analyses every statement of sql (a simple-query string, possibly several statements);
// one refused statement refuses the whole string.
Decision decide(const Principal& principal, std::string_view sql, const Policy& policy);

// A statement whose answer the proxy rewrites (Allowed::render_plan) must come as a simple
// query, whose one result the proxy can transform: 0A000 for an extended-protocol Parse of it.
std::optional<protocol::PgError> checkExtendedProtocol(const Allowed& allowed);

// Checks the parameter type oids of an extended-protocol Parse. The object-identifier types
// (regclass, regproc, regrole, ...) resolve names server-side, outside the analysed SQL, so a
// parameter of such a type could tell a hidden relation from a missing one: refused (42501).
std::optional<protocol::PgError> checkParameterTypes(const std::vector<std::int32_t>& type_oids);

// tenantwall's own statements on a database connection are named "tw_" and 32 lower-case hex
// digits (the prepared forms of simple queries, pool.mode transaction's renamed statements:
// decision_cache.h). Their names follow from their rewritten text, tenant included, so a
// client that could name one could run another tenant's rewrite on a shared connection, or an
// earlier policy's: a client's prepared statement (Parse, PREPARE) may not have such a name
// (42939), and EXECUTE or DEALLOCATE of one finds nothing (26000). Other names, "tw_" ones too,
// are the client's.
bool isReservedStatementName(std::string_view name);
std::optional<protocol::PgError> checkPreparedName(std::string_view name);
// 26000 as PostgreSQL words it for a name no statement has (to a client, tenantwall's own
// statements are not there).
protocol::PgError noSuchStatement(std::string_view name);
// 26000 for a statement prepared under an earlier policy that changed how it runs; `hint` says
// how to prepare it again.
protocol::PgError preparedUnderEarlierPolicy(std::string_view name, std::string hint);
// A reserved name no statement has: what a client's Close of a reserved name closes.
inline constexpr std::string_view kNoStatementName = "tw_00000000000000000000000000000000";

// Checks a Bind's values of the parameters listed in Allowed::tenant_parameters: each must be
// non-NULL and, in text or binary format (the bytes of a text value are the same in both),
// exactly `tenant`; otherwise 42501, a cross-tenant reference. formats are the Bind's format
// codes (none: all text; one: all that one; else one per parameter).
std::optional<protocol::PgError> checkTenantParameters(
    const std::vector<int>& tenant_parameters, const std::vector<std::int16_t>& formats,
    const std::vector<std::optional<std::string_view>>& values, std::string_view tenant);

// The declared types (Parse) of those parameters must be text-like or unspecified, so that the
// bytes checked at Bind are the tenant id itself in either format (42501 otherwise).
std::optional<protocol::PgError> checkTenantParameterTypes(
    const std::vector<int>& tenant_parameters, const std::vector<std::int32_t>& type_oids);

}  // namespace tenantwall::policy
