// The metric declarations (names, help, labels, buckets) and their rendering.
#include "proxy/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace tenantwall::proxy {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Family<prometheus::Counter>& counterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help) {
  return counterFamily(registry, name, help).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

// Decisions take microseconds on a cache hit and milliseconds on a parse and rewrite.
const prometheus::Histogram::BucketBoundaries kDecisionBuckets = {
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      connections_(
          gauge(*registry_, "tenantwall_client_connections", "Client sessions currently open.")),
      connections_total_(counter(*registry_, "tenantwall_client_connections_total",
                                 "Client sessions accepted since start-up.")),
      authentications_(counterFamily(*registry_, "tenantwall_authentications_total",
                                     "SCRAM authentications of policy users, by result.")),
      auth_ok_(authentications_.Add({{"result", "ok"}})),
      auth_fail_(authentications_.Add({{"result", "fail"}})),
      login_timeouts_(counter(*registry_, "tenantwall_login_timeouts_total",
                              "Clients closed for not logging in within limits.login_timeout_ms.")),
      statements_(counterFamily(*registry_, "tenantwall_statements_total",
                                "Statements analysed, by decision.")),
      allowed_(statements_.Add({{"decision", "allow"}})),
      denied_(statements_.Add({{"decision", "deny"}})),
      statement_kinds_(counterFamily(*registry_, "tenantwall_statement_kinds_total",
                                     "Allowed statements, by statement kind.")),
      refusals_(counterFamily(*registry_, "tenantwall_refusals_total",
                              "Statements and messages refused, by SQLSTATE.")),
      decision_seconds_(BuildHistogram()
                            .Name("tenantwall_decision_duration_seconds")
                            .Help("Time to decide (parse, check, rewrite) one statement.")
                            .Register(*registry_)
                            .Add({}, kDecisionBuckets)),
      cache_hits_(counter(*registry_, "tenantwall_decision_cache_hits_total",
                          "Decisions served from the decision cache.")),
      cache_misses_(counter(*registry_, "tenantwall_decision_cache_misses_total",
                            "Decisions computed because the cache had none.")),
      prepared_queries_(counterFamily(
          *registry_, "tenantwall_prepared_simple_queries_total",
          "Simple-protocol statements run as prepared statements (pool.prepare_simple_queries), "
          "by whether the backend connection already held the statement (reused) or prepared "
          "it first (parsed).")),
      prepared_run_(prepared_queries_.Add({{"backend", "reused"}})),
      prepared_parsed_(prepared_queries_.Add({{"backend", "parsed"}})),
      backend_connections_(gauge(*registry_, "tenantwall_backend_connections",
                                 "Connections to PostgreSQL currently open.")),
      backend_connect_failures_(counter(*registry_, "tenantwall_backend_connect_failures_total",
                                        "Failed attempts to connect to PostgreSQL.")),
      reloads_(counterFamily(*registry_, "tenantwall_policy_reloads_total",
                             "Policy reloads, by result.")),
      reload_ok_(reloads_.Add({{"result", "ok"}})),
      reload_fail_(reloads_.Add({{"result", "fail"}})),
      policy_version_(gauge(*registry_, "tenantwall_policy_version",
                            "Version of the running policy (increases with every load).")),
      audit_failures_(counter(*registry_, "tenantwall_audit_failures_total",
                              "Audit log write failures and dropped events.")),
      audit_healthy_(gauge(*registry_, "tenantwall_audit_healthy",
                           "1 while the audit log is written (or disabled), else 0.")),
      pool_size_(gauge(*registry_, "tenantwall_pool_size",
                       "pool.size: the most pooled backend connections (0: pool.mode none).")),
      pool_in_use_(gauge(*registry_, "tenantwall_pool_in_use",
                         "Pooled backend connections held by client sessions.")),
      pool_idle_(gauge(*registry_, "tenantwall_pool_idle",
                       "Pooled backend connections idle, reset and ready for reuse.")),
      pool_waits_(counter(*registry_, "tenantwall_pool_waits_total",
                          "Client logins that waited because every pooled connection was in "
                          "use.")) {
  audit_healthy_.Set(1);
  policy_status_.loaded_at = std::chrono::system_clock::now();
}

void Metrics::sessionStarted() {
  connections_.Increment();
  connections_total_.Increment();
}

void Metrics::sessionEnded() { connections_.Decrement(); }

void Metrics::authenticated(bool ok) { (ok ? auth_ok_ : auth_fail_).Increment(); }

void Metrics::loginTimedOut() { login_timeouts_.Increment(); }

void Metrics::decided(bool allowed, const std::vector<std::string>& kinds, double seconds) {
  (allowed ? allowed_ : denied_).Increment();
  if (allowed) {
    for (const auto& kind : kinds) {
      prometheus::Counter* counter = nullptr;
      {
        const std::lock_guard lock(kinds_mutex_);
        auto it = kind_counters_.find(kind);
        if (it == kind_counters_.end())
          it = kind_counters_.emplace(kind, &statement_kinds_.Add({{"kind", kind}})).first;
        counter = it->second;
      }
      counter->Increment();
    }
  }
  decision_seconds_.Observe(seconds);
}

void Metrics::refused(std::string_view sqlstate) {
  refusals_.Add({{"sqlstate", std::string(sqlstate)}}).Increment();
}

void Metrics::preparedQuery(bool parsed) {
  (parsed ? prepared_parsed_ : prepared_run_).Increment();
}

void Metrics::backendConnected() { backend_connections_.Increment(); }
void Metrics::backendClosed() { backend_connections_.Decrement(); }
void Metrics::backendConnectFailed() { backend_connect_failures_.Increment(); }

void Metrics::policyLoaded(std::uint64_t version) {
  policy_version_.Set(static_cast<double>(version));
  const std::lock_guard lock(mutex_);
  policy_status_ = {std::chrono::system_clock::now(), {}};
}

void Metrics::policyVersion(std::uint64_t version) {
  policy_version_.Set(static_cast<double>(version));
}

void Metrics::policyReloaded(bool ok, std::uint64_t version, std::string error) {
  (ok ? reload_ok_ : reload_fail_).Increment();
  policy_version_.Set(static_cast<double>(version));
  const std::lock_guard lock(mutex_);
  if (ok) policy_status_.loaded_at = std::chrono::system_clock::now();
  policy_status_.last_error = std::move(error);
}

PolicyStatus Metrics::policyStatus() const {
  const std::lock_guard lock(mutex_);
  return policy_status_;
}

void Metrics::catchUp(prometheus::Counter& counter, std::uint64_t value) {
  const double delta = static_cast<double>(value) - counter.Value();
  if (delta > 0) counter.Increment(delta);
}

std::string Metrics::render(const MetricsSample& sample) {
  {
    const std::lock_guard lock(mutex_);
    catchUp(cache_hits_, sample.decision_cache_hits);
    catchUp(cache_misses_, sample.decision_cache_misses);
    catchUp(audit_failures_, sample.audit_failures);
    audit_healthy_.Set(!sample.audit_enabled || sample.audit_healthy ? 1 : 0);
    pool_size_.Set(static_cast<double>(sample.pool_size));
    pool_in_use_.Set(static_cast<double>(sample.pool_in_use));
    pool_idle_.Set(static_cast<double>(sample.pool_idle));
    catchUp(pool_waits_, sample.pool_waits);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace tenantwall::proxy
