// The options of an EXPLAIN a tenant sends: which are allowed, without and with ANALYZE, and
// the options PostgreSQL runs EXPLAIN ANALYZE with under tenantwall.
#pragma once

#include <expected>
#include <string>

#include "pg_query_pb/pg_query.pb.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

struct ExplainOptions {
  bool analyze = false;
  std::string format = "text";  // as written: "text", "json" (the only two with ANALYZE)
  bool costs_given = false;     // COSTS was given (off: any other value is refused)
};

// Checks every option against an allowlist. Without ANALYZE: VERBOSE, FORMAT, SUMMARY,
// BUFFERS, and COSTS off only (estimates come from statistics over every tenant's rows). With
// ANALYZE: VERBOSE, FORMAT TEXT or JSON (YAML and XML 0A000), and COSTS, TIMING, SUMMARY,
// BUFFERS, WAL and SETTINGS only off (42501 when on: timings, buffer and WAL counts depend on
// other tenants' rows). Anything else 42501; a value PostgreSQL would not take 22023.
std::expected<ExplainOptions, protocol::PgError> readExplainOptions(
    const pg_query::ExplainStmt& explain);

// Replaces the options by those PostgreSQL runs EXPLAIN ANALYZE with: ANALYZE, FORMAT JSON
// (the proxy renders the client's format from it, policy/explain_render.h), and COSTS, TIMING,
// SUMMARY and BUFFERS off. VERBOSE is dropped: what it adds (output lists, schema names) is
// not among what the rendering keeps.
void setAnalyzeOptions(pg_query::ExplainStmt& explain);

}  // namespace tenantwall::policy::sql
