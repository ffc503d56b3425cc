// The decision for one simple-query string: refuse it, or forward a rewritten version that can
// only see the principal's slice with masks applied. Pure: no I/O, no global mutable state.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "policy/model.h"
#include "policy/principal.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy {

struct Allowed {
  std::string sql;                       // what to send to PostgreSQL (deparsed from the tree)
  std::vector<std::string> statement_kinds;  // e.g. "SELECT", "BEGIN", one per statement
  std::vector<std::string> relations;    // schema-qualified relations the statement reads
};

// Either the SQL to forward, or the refusal with SQLSTATE, message and hint.
using Decision = std::expected<Allowed, protocol::PgError>;

// Analyses every statement of sql (a simple-query string, possibly several statements);
// one refused statement refuses the whole string.
Decision decide(const Principal& principal, std::string_view sql, const Policy& policy);

}  // namespace tenantwall::policy
