// Which client start-up parameters tenantwall accepts, and which it passes to PostgreSQL.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/decoder.h"
#include "protocol/pg_error.h"

namespace tenantwall::proxy {

// Harmless display settings are forwarded; "database" must name the configured database;
// client_encoding must be UTF-8 (or its subset SQL_ASCII); everything else (options,
// replication, search_path, role, ...) is refused, because a setting is a door.
std::optional<protocol::PgError> checkStartupParams(
    const protocol::StartupPacket& startup, const std::string& database,
    std::vector<std::pair<std::string, std::string>>& forwarded);

}  // namespace tenantwall::proxy
