// Transaction control and session settings (DESIGN decision 5: identity and session are
// pinned): which BEGIN/COMMIT/SAVEPOINT forms, SET/RESET/SHOW settings and DISCARD targets a
// tenant may use. Settings are an allowlist; everything else is refused with 42501.
#pragma once

#include <expected>
#include <string>

#include "pg_query_pb/pg_query.pb.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// Checks a TransactionStmt, VariableSetStmt, VariableShowStmt, DiscardStmt or
// ConstraintsSetStmt, which are forwarded unchanged when allowed. Returns the command name
// ("BEGIN", "SET", "SHOW", "RESET", "DISCARD", ...), or the refusal.
std::expected<std::string, protocol::PgError> checkSessionStatement(
    const pg_query::Node& statement);

// Whether a setting may be read with SHOW (name as written; compared case-insensitively).
bool isShowableSetting(std::string_view name);

}  // namespace tenantwall::policy::sql
