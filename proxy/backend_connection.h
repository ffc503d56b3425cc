// A connection to the real PostgreSQL, opened (over TLS when backend.tls asks) and authenticated
// with the service credentials.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/pg_error.h"
#include "proxy/asio.h"
#include "proxy/config.h"
#include "proxy/pooled_statements.h"
#include "proxy/stream.h"

namespace tenantwall::proxy {

struct BackendConnection {
  Stream socket;  // plain TCP or TLS, per backend.tls.mode
  std::vector<std::pair<std::string, std::string>> parameters;  // ParameterStatus at start-up
  std::int32_t pid = 0;  // PostgreSQL's cancel key data, never shown to clients
  std::int32_t key = 0;
  ServerStatements prepared;  // pool.mode transaction: statements parsed under server names
};

// Resolves, connects and, as backend.tls.mode asks, sends SSLRequest and completes the TLS
// handshake (checking the certificate for verify-ca and verify-full). `stream` must be a fresh
// plain stream. Returns the reason on failure, meant for logs.
awaitable<std::optional<std::string>> openBackendStream(Stream& stream,
                                                        const BackendConfig& config);

// Connects, authenticates (SCRAM-SHA-256, md5 or cleartext, as the server asks) and waits for
// the first ReadyForQuery. session_params are extra startup settings (e.g. application_name).
// The error is meant for logs; clients get a generic message.
awaitable<std::expected<BackendConnection, std::string>> connectBackend(
    const BackendConfig& config,
    const std::vector<std::pair<std::string, std::string>>& session_params);

}  // namespace tenantwall::proxy
