// Metrics: every family renders in the Prometheus text format and the counts move.
#include "proxy/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace tenantwall::proxy {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

// Families with per-value labels (statement kinds, SQLSTATEs) appear with their first value.
TEST(MetricsTest, FreshRegistryRendersEveryUnlabelledFamily) {
  Metrics metrics;
  const std::string text = metrics.render({});
  for (const char* name :
       {"tenantwall_client_connections", "tenantwall_client_connections_total",
        "tenantwall_authentications_total", "tenantwall_login_timeouts_total",
        "tenantwall_statements_total", "tenantwall_decision_duration_seconds",
        "tenantwall_decision_cache_hits_total", "tenantwall_decision_cache_misses_total",
        "tenantwall_backend_connections", "tenantwall_backend_connect_failures_total",
        "tenantwall_policy_reloads_total", "tenantwall_policy_version",
        "tenantwall_audit_failures_total", "tenantwall_audit_healthy"})
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  EXPECT_TRUE(has(text, "tenantwall_statements_total{decision=\"allow\"} 0")) << text;
  EXPECT_TRUE(has(text, "tenantwall_audit_healthy 1")) << text;
}

TEST(MetricsTest, CountsMove) {
  Metrics metrics;
  metrics.sessionStarted();
  metrics.sessionStarted();
  metrics.sessionEnded();
  metrics.authenticated(true);
  metrics.authenticated(false);
  metrics.authenticated(false);
  metrics.loginTimedOut();
  metrics.decided(true, {"SELECT"}, 0.0002);
  metrics.decided(true, {"SELECT", "INSERT"}, 0.002);
  metrics.decided(false, {}, 0.001);
  metrics.refused("42501");
  metrics.refused("42501");
  metrics.refused("0A000");
  metrics.backendConnected();
  metrics.policyLoaded(1);
  metrics.policyReloaded(true, 2, "");
  metrics.policyReloaded(false, 2, "bad file");
  const std::string text = metrics.render({});
  EXPECT_TRUE(has(text, "tenantwall_client_connections 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_client_connections_total 2")) << text;
  EXPECT_TRUE(has(text, "tenantwall_authentications_total{result=\"ok\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_authentications_total{result=\"fail\"} 2")) << text;
  EXPECT_TRUE(has(text, "tenantwall_login_timeouts_total 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_statements_total{decision=\"allow\"} 2")) << text;
  EXPECT_TRUE(has(text, "tenantwall_statements_total{decision=\"deny\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_statement_kinds_total{kind=\"SELECT\"} 2")) << text;
  EXPECT_TRUE(has(text, "tenantwall_statement_kinds_total{kind=\"INSERT\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_refusals_total{sqlstate=\"42501\"} 2")) << text;
  EXPECT_TRUE(has(text, "tenantwall_refusals_total{sqlstate=\"0A000\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_decision_duration_seconds_count 3")) << text;
  EXPECT_TRUE(has(text, "tenantwall_backend_connections 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_policy_reloads_total{result=\"ok\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_policy_reloads_total{result=\"fail\"} 1")) << text;
  EXPECT_TRUE(has(text, "tenantwall_policy_version 2")) << text;
  EXPECT_EQ(metrics.policyStatus().last_error, "bad file");
}

TEST(MetricsTest, SampledCountersFollowTheirSource) {
  Metrics metrics;
  MetricsSample sample;
  sample.decision_cache_hits = 5;
  sample.decision_cache_misses = 3;
  sample.audit_enabled = true;
  sample.audit_healthy = false;
  sample.audit_failures = 4;
  std::string text = metrics.render(sample);
  EXPECT_TRUE(has(text, "tenantwall_decision_cache_hits_total 5")) << text;
  EXPECT_TRUE(has(text, "tenantwall_decision_cache_misses_total 3")) << text;
  EXPECT_TRUE(has(text, "tenantwall_audit_failures_total 4")) << text;
  EXPECT_TRUE(has(text, "tenantwall_audit_healthy 0")) << text;
  sample.decision_cache_hits = 7;
  sample.audit_healthy = true;
  text = metrics.render(sample);
  EXPECT_TRUE(has(text, "tenantwall_decision_cache_hits_total 7")) << text;
  EXPECT_TRUE(has(text, "tenantwall_audit_healthy 1")) << text;
}

}  // namespace
}  // namespace tenantwall::proxy
