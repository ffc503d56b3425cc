// The refusal for a statement kind tenants may not run: DDL, administration, roles,
// notifications and anything not in the engine's table of statement handlers.
#pragma once

#include "pg_query_pb/pg_query.pb.h"
#include "protocol/pg_error.h"

namespace tenantwall::policy::sql {

// 42501 (0A000 for MERGE, which may come later) naming the command and why it is refused; an
// unlisted kind is named by its node kind.
protocol::PgError refuseStatement(const pg_query::Node& statement);

}  // namespace tenantwall::policy::sql
