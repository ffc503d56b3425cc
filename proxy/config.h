// Process configuration: where to listen, how to reach PostgreSQL, which policy to enforce.
// Loaded once at start-up (exceptions with file:line:column), then shared read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace tenantwall::proxy {

class TlsContextSource;  // proxy/tls_context.h

// TLS towards PostgreSQL (backend.tls), with libpq's sslmode names.
enum class BackendTlsMode {
  kDisable,     // plain TCP
  kRequire,     // encrypted, server certificate not checked (no protection from a MITM)
  kVerifyCa,    // encrypted, certificate signed by ca_file (or the system trust store)
  kVerifyFull,  // and the certificate names server_name (default: backend.host)
};

struct BackendTlsConfig {
  BackendTlsMode mode = BackendTlsMode::kDisable;
  std::string ca_file;      // empty: the system trust store
  std::string server_name;  // verify-full's expected name and SNI; empty: backend.host
  // Built from the files at start-up (ServerState); absent: built per connection.
  std::shared_ptr<TlsContextSource> context;
};

// TCP keepalive on every client and backend connection (tcp_keepalive), so a peer that vanished
// without a FIN or reset (a dropped network path, a powered-off host) frees its session and its
// backend connection instead of holding them forever. Times are whole seconds on the socket.
struct TcpKeepaliveConfig {
  bool enabled = true;
  std::uint32_t idle_ms = 120000;     // idle time before the first probe
  std::uint32_t interval_ms = 15000;  // between unanswered probes
  std::uint32_t count = 4;            // unanswered probes before the connection is dropped
};

struct BackendConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::string database;
  std::string user;
  std::string password;  // TENANTWALL_BACKEND_PASSWORD overrides
  // Instead of password: a file holding it, read at start-up and again on every reload
  // (SIGHUP, POST /reload, a policy change), so the service password rotates without a restart.
  std::string password_file;
  std::uint32_t connect_timeout_ms = 5000;
  BackendTlsConfig tls;
  TcpKeepaliveConfig keepalive;  // the top-level tcp_keepalive, copied here when loaded
};

enum class ClientCertificates { kNone, kOptional, kRequired };

// Client-facing TLS (the `tls` section): PostgreSQL's SSLRequest answered with 'S'.
struct TlsConfig {
  std::string cert_file;  // PEM chain, leaf first; empty: TLS off (SSLRequest answered 'N')
  std::string key_file;   // PEM private key of the leaf
  std::string ca_file;    // PEM CAs that client certificates must chain to
  ClientCertificates client_certificates = ClientCertificates::kNone;
  bool require = false;     // refuse clients that do not use TLS (28000)
  bool tls13_only = false;  // min_version "1.3"; otherwise TLS 1.2 and 1.3

  bool enabled() const { return !cert_file.empty(); }
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

// Reviewed policy changes (policy/policy_signature.h). Empty: a policy needs no approval.
struct ApprovalConfig {
  std::string approvers_dir;  // <id>.pem public keys; resolved like policy; read at start-up
};

// The backend connection pool (proxy/backend_pool.h), `pool` section.
enum class PoolMode {
  kNone,         // every client session opens and closes its own backend connection
  kSession,      // a client holds a pooled connection from login to disconnect, reset after
  kTransaction,  // a client holds a pooled connection from the first message of a transaction
                 // to its end, unless it left session state (then until disconnect)
};

struct PoolConfig {
  PoolMode mode = PoolMode::kNone;
  std::size_t size = 100;                 // connections to backend.database, in use or idle
  std::uint32_t idle_timeout_ms = 60000;  // idle pooled connections older than this are closed
  // A simple Query whose rewrite has a prepared form (policy/decision_cache.h) runs as that
  // statement, prepared once per backend connection, with its literals as parameters.
  bool prepare_simple_queries = true;
};

struct Config {
  std::string source;  // the file this came from
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 6432;
  BackendConfig backend;
  std::string policy_path;  // absolute, or relative to the config file's directory once loaded
  std::uint32_t policy_poll_ms = 1000;  // how often the policy file is checked; 0: SIGHUP only
  // Check every policy load against the live schema (unknown table or column: rejected).
  bool policy_schema_check = true;
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  std::size_t max_connections = 1000;
  // From accept to AuthenticationOk; then the connection is closed (client_session.cc).
  std::uint32_t login_timeout_ms = 60000;
  unsigned io_threads = 0;  // 0 ("auto"): half the CPUs the process may use (autoIoThreads)
  std::uint32_t drain_timeout_ms = 30000;  // SIGTERM: how long transactions may finish
  TcpKeepaliveConfig tcp_keepalive;
  AuditConfig audit;
  AdminConfig admin;
  ApprovalConfig approval;
  TlsConfig tls;
  PoolConfig pool;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and validates the YAML file; unknown keys are errors, so a typo never goes unnoticed.
Config loadConfigFile(const std::string& path);

// The contents of backend.password_file without trailing whitespace; an error when it cannot be
// read or is empty.
std::expected<std::string, std::string> readBackendPasswordFile(const BackendConfig& backend);

}  // namespace tenantwall::proxy
