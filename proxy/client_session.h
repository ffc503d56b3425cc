// One client connection from accept to close: start-up, authentication of the principal, the
// backend connection, and the statement loop. The coroutine frame owns everything it uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "policy/decision_cache.h"
#include "proxy/asio.h"
#include "proxy/audit_log.h"
#include "proxy/backend_pool.h"
#include "proxy/cancel_registry.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/policy_store.h"
#include "proxy/tls_context.h"

namespace tenantwall::proxy {

// Graceful drain (SIGTERM): every live session registers a callback that closes it once it is
// idle; sessions inside a transaction finish it first.
class DrainRegistry {
 public:
  void add(std::uint64_t session, std::function<void()> poke);
  void remove(std::uint64_t session);
  void drainAll();  // from now on draining() is true, and every session is poked once
  bool draining() const { return draining_.load(); }

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, std::function<void()>> sessions_;
  std::atomic<bool> draining_{false};
};

// State shared by all sessions of one server; read-only except for the counters and the
// atomically swapped policy.
struct ServerState {
  // Throws at start-up when a TLS file does not load.
  explicit ServerState(Config c)
      : config(std::move(c)), policies(config.policy_path), client_tls(makeServerTls(config.tls)) {
    config.backend.tls.context = makeBackendTls(config.backend.tls);
  }
  Config config;
  PolicyStore policies;
  std::shared_ptr<TlsContextSource> client_tls;  // null: SSLRequest is answered 'N'
  CancelRegistry cancel_keys;
  policy::DecisionCache decisions;
  std::unique_ptr<AuditLog> audit;  // null when the audit log is disabled
  Metrics metrics;
  BackendPool pool{config.pool, metrics};  // pool.mode none: connects per session
  std::atomic<std::size_t> connections{0};
  // Set by a policy reload: the schema facts are read again at once (server.cc).
  std::atomic<bool> facts_wanted{false};
  std::atomic<std::uint64_t> next_session_id{1};
  DrainRegistry drain;
  // The backend password new backend connections use: backend.password_file is re-read on
  // every reload, and open connections keep the password they logged in with.
  std::atomic<std::shared_ptr<const std::string>> backend_password{
      std::make_shared<const std::string>(config.backend.password)};

  BackendConfig backendConfig() const {
    BackendConfig backend = config.backend;
    backend.password = *backend_password.load();
    return backend;
  }
};

awaitable<void> runClientSession(tcp::socket socket, std::shared_ptr<ServerState> state);

}  // namespace tenantwall::proxy
