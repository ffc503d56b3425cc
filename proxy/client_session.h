// One client connection from accept to close: start-up, authentication of the principal, the
// backend connection, and the statement loop. The coroutine frame owns everything it uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "policy/decision_cache.h"
#include "proxy/asio.h"
#include "proxy/audit_log.h"
#include "proxy/cancel_registry.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/policy_store.h"

namespace tenantwall::proxy {

// State shared by all sessions of one server; read-only except for the counters and the
// atomically swapped policy.
struct ServerState {
  explicit ServerState(Config c) : config(std::move(c)), policies(config.policy_path) {}
  Config config;
  PolicyStore policies;
  CancelRegistry cancel_keys;
  policy::DecisionCache decisions;
  std::unique_ptr<AuditLog> audit;  // null when the audit log is disabled
  Metrics metrics;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> next_session_id{1};
};

awaitable<void> runClientSession(tcp::socket socket, std::shared_ptr<ServerState> state);

}  // namespace tenantwall::proxy
