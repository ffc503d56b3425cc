// Process configuration: where to listen, how to reach PostgreSQL, which policy to enforce.
// Loaded once at start-up (exceptions with file:line:column), then shared read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace tenantwall::proxy {

struct BackendConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::string database;
  std::string user;
  std::string password;  // TENANTWALL_BACKEND_PASSWORD overrides
  std::uint32_t connect_timeout_ms = 5000;
};

// The audit log (proxy/audit_log.h). An empty path disables it.
struct AuditConfig {
  std::string path;  // absolute, or relative to the config file's directory once loaded
  std::size_t max_bytes = 64 * 1024 * 1024;
  unsigned keep = 10;
  std::string hmac_key_file;      // resolved like path; read at load into hmac_key
  std::string hmac_key;           // empty: lines are sealed with plain SHA-256
  bool refuse_on_failure = true;  // on_failure: refuse | continue
};

// The admin HTTP endpoint (proxy/admin_server.h). No port: disabled.
struct AdminConfig {
  std::string listen_host = "127.0.0.1";
  std::optional<std::uint16_t> port;  // 0 picks a free port, printed on start-up
  std::string token_file;             // resolved like policy; read at load into token
  std::string token;  // bearer token for mutating endpoints; TENANTWALL_ADMIN_TOKEN overrides;
                      // empty: mutating endpoints are disabled
};

struct Config {
  std::string source;  // the file this came from
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 6432;
  BackendConfig backend;
  std::string policy_path;  // absolute, or relative to the config file's directory once loaded
  std::uint32_t policy_poll_ms = 1000;  // how often the policy file is checked; 0: SIGHUP only
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  std::size_t max_connections = 1000;
  unsigned io_threads = 1;
  std::uint32_t drain_timeout_ms = 30000;  // SIGTERM: how long transactions may finish
  AuditConfig audit;
  AdminConfig admin;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and validates the YAML file; unknown keys are errors, so a typo never goes unnoticed.
Config loadConfigFile(const std::string& path);

}  // namespace tenantwall::proxy
