// One query over a service connection of its own, its rows collected as text: for the small
// reads the proxy makes about the live database (the schema its policy is checked against).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

using ServiceRow = std::vector<std::optional<std::string>>;

// Connects as the service role (application_name tells it apart in pg_stat_activity), runs sql
// as a simple query and returns its rows; the error, for logs, when it cannot.
awaitable<std::expected<std::vector<ServiceRow>, std::string>> runServiceQuery(
    const BackendConfig& config, std::string_view application_name, std::string_view sql);

// The same, for callers outside the I/O threads' coroutines (start-up, reloads): runs its own
// io_context until the answer is in, bounded by the backend's connect timeout for connecting.
std::expected<std::vector<ServiceRow>, std::string> runServiceQueryNow(
    const BackendConfig& config, std::string_view application_name, std::string_view sql);

}  // namespace tenantwall::proxy
