// Reads the live schema (policy::kLiveSchemaQuery) over a service connection of its own, for the
// schema slice (GET /schema, `tenantwall schema`).
#pragma once

#include <expected>
#include <string>

#include "policy/schema_slice.h"
#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

awaitable<std::expected<policy::LiveSchema, std::string>> readLiveSchema(
    const BackendConfig& config);

// The same, for command-line use: runs its own io_context until the answer is in.
std::expected<policy::LiveSchema, std::string> readLiveSchemaNow(const BackendConfig& config);

}  // namespace tenantwall::proxy
