// Reads policy::ColumnFacts from the live database over a service connection of its own.
#pragma once

#include <expected>
#include <string>

#include "policy/column_facts.h"
#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

// The error is for logs; on failure the proxy keeps what it knew (at first: nothing, so no
// predicate is pushed into a fence and every answer stays correct, only slower).
awaitable<std::expected<policy::ColumnFacts, std::string>> readColumnFacts(
    const BackendConfig& config);

}  // namespace tenantwall::proxy
