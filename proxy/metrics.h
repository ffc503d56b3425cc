// Every Prometheus metric tenantwall exports, declared in one place on one registry, with the
// few state facts the admin endpoint reports about the policy (loaded_at, last_error).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tenantwall::proxy {

// Values read from other components when the metrics are rendered, rather than counted twice.
struct MetricsSample {
  std::uint64_t decision_cache_hits = 0;
  std::uint64_t decision_cache_misses = 0;
  std::uint64_t audit_failures = 0;
  bool audit_enabled = false;
  bool audit_healthy = true;
  // The backend pool (proxy/backend_pool.h); size 0 when pool.mode is none.
  std::uint64_t pool_size = 0;
  std::uint64_t pool_in_use = 0;
  std::uint64_t pool_idle = 0;
  std::uint64_t pool_waits = 0;
};

// What /policy reports besides the snapshot itself.
struct PolicyStatus {
  std::chrono::system_clock::time_point loaded_at;
  std::string last_error;  // of the latest reload; empty when it succeeded
};

// Thread-safe: every method may be called from any session or thread.
class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void sessionStarted();
  void sessionEnded();
  void authenticated(bool ok);
  // A client closed for not completing its login within limits.login_timeout_ms.
  void loginTimedOut();
  // One analysed statement: its decision, the kinds it holds (allowed ones), how long it took.
  void decided(bool allowed, const std::vector<std::string>& kinds, double seconds);
  // A statement or message refused with this SQLSTATE (by the policy or the protocol rules).
  void refused(std::string_view sqlstate);
  // A simple Query run as its prepared form; `parsed` when the backend had to prepare it first.
  void preparedQuery(bool parsed);
  void backendConnected();
  void backendClosed();
  void backendConnectFailed();
  // The policy loaded at start-up (no reload counted).
  void policyVersion(std::uint64_t version);  // same policy, newly annotated
  void policyLoaded(std::uint64_t version);
  // A reload attempt; on failure the version is the running one.
  void policyReloaded(bool ok, std::uint64_t version, std::string error);
  PolicyStatus policyStatus() const;

  // The Prometheus text exposition format (version 0.0.4) of every metric.
  std::string render(const MetricsSample& sample);

 private:
  // Brings a counter mirroring an external monotonic count up to date.
  static void catchUp(prometheus::Counter& counter, std::uint64_t value);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& connections_;
  prometheus::Counter& connections_total_;
  prometheus::Family<prometheus::Counter>& authentications_;
  prometheus::Counter& auth_ok_;
  prometheus::Counter& auth_fail_;
  prometheus::Counter& login_timeouts_;
  prometheus::Family<prometheus::Counter>& statements_;
  prometheus::Counter& allowed_;
  prometheus::Counter& denied_;
  prometheus::Family<prometheus::Counter>& statement_kinds_;
  // The counter of each kind seen, so the hot path skips the family's label hashing.
  std::mutex kinds_mutex_;
  std::map<std::string, prometheus::Counter*, std::less<>> kind_counters_;
  prometheus::Family<prometheus::Counter>& refusals_;
  prometheus::Histogram& decision_seconds_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Family<prometheus::Counter>& prepared_queries_;
  prometheus::Counter& prepared_run_;
  prometheus::Counter& prepared_parsed_;
  prometheus::Gauge& backend_connections_;
  prometheus::Counter& backend_connect_failures_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Counter& reload_ok_;
  prometheus::Counter& reload_fail_;
  prometheus::Gauge& policy_version_;
  prometheus::Counter& audit_failures_;
  prometheus::Gauge& audit_healthy_;
  prometheus::Gauge& pool_size_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_idle_;
  prometheus::Counter& pool_waits_;

  mutable std::mutex mutex_;  // render()'s catch-up and the policy status
  PolicyStatus policy_status_;
};

}  // namespace tenantwall::proxy
