// A connection to the real PostgreSQL, opened and authenticated with the service credentials.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "protocol/pg_error.h"
#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

struct BackendConnection {
  tcp::socket socket;
  std::vector<std::pair<std::string, std::string>> parameters;  // ParameterStatus at start-up
  std::int32_t pid = 0;  // PostgreSQL's cancel key data, never shown to clients
  std::int32_t key = 0;
};

// Connects, authenticates (SCRAM-SHA-256, md5 or cleartext, as the server asks) and waits for
// the first ReadyForQuery. session_params are extra startup settings (e.g. application_name).
// The error is meant for logs; clients get a generic message.
awaitable<std::expected<BackendConnection, std::string>> connectBackend(
    const BackendConfig& config,
    const std::vector<std::pair<std::string, std::string>>& session_params);

}  // namespace tenantwall::proxy
