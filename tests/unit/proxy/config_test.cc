// Configuration loading: the reference file loads, unknown settings and bad values are refused.
#include "proxy/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace tenantwall::proxy {
namespace {

std::string writeTemp(const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tw-config-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::hash<std::string>{}(text)) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

std::string loadError(const std::string& text) {
  try {
    loadConfigFile(writeTemp(text));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "loaded without error";
}

const std::string kMinimal =
    "backend: {database: app, user: svc}\npolicy: /etc/tenantwall/policy.yaml\n";

TEST(ConfigTest, ReferenceConfigLoads) {
  ::unsetenv("TENANTWALL_BACKEND_PASSWORD");
  const std::string path = std::string(TENANTWALL_TEST_DATA) + "/../../../conf/tenantwall.yaml";
  const Config c = loadConfigFile(path);
  EXPECT_EQ(c.listen_port, 6432);
  EXPECT_EQ(c.backend.database, "app");
  EXPECT_EQ(c.backend.user, "tenantwall_service");
  EXPECT_EQ(c.backend.password, "change-me");
  // Relative policy paths are resolved against the config file's directory.
  EXPECT_TRUE(c.policy_path.ends_with("conf/policy.yaml")) << c.policy_path;
  EXPECT_TRUE(std::filesystem::path(c.policy_path).is_absolute()) << c.policy_path;
}

TEST(ConfigTest, EnvironmentOverridesPassword) {
  ::setenv("TENANTWALL_BACKEND_PASSWORD", "from-env", 1);
  const Config c = loadConfigFile(
      writeTemp("backend: {database: app, user: svc, password: in-file}\npolicy: p.yaml\n"));
  ::unsetenv("TENANTWALL_BACKEND_PASSWORD");
  EXPECT_EQ(c.backend.password, "from-env");
}

TEST(ConfigTest, UnknownSettingNamesItsPlace) {
  const std::string e = loadError(kMinimal + "listen: {host: 127.0.0.1, prot: 5}\n");
  EXPECT_NE(e.find(":3:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown setting 'listen.prot'"), std::string::npos) << e;
}

// yaml-cpp keeps the first of two equal keys silently; the second one is what its author meant.
TEST(ConfigTest, AliasInsideItsOwnNodeIsAnError) {
  const std::string e = loadError(kMinimal + "listen: &l {host: *l}\n");
  EXPECT_NE(e.find("nested deeper than 64 levels (or an alias inside the node it names)"),
            std::string::npos)
      << e;
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  const std::string e = loadError(kMinimal + "pool: {mode: none}\npool: {mode: session}\n");
  EXPECT_NE(e.find(":4:1: key 'pool' appears twice in the same mapping"), std::string::npos) << e;
  const std::string nested = loadError(kMinimal + "listen: {host: 127.0.0.1, host: 0.0.0.0}\n");
  EXPECT_NE(nested.find("key 'host' appears twice"), std::string::npos) << nested;
}

TEST(ConfigTest, PortOutOfRange) {
  const std::string e = loadError(kMinimal + "listen: {port: 70000}\n");
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(ConfigTest, IoThreadsAreAutoUnlessGiven) {
  EXPECT_EQ(loadConfigFile(writeTemp(kMinimal)).io_threads, 0u);
  EXPECT_EQ(loadConfigFile(writeTemp(kMinimal + "io_threads: auto\n")).io_threads, 0u);
  EXPECT_EQ(loadConfigFile(writeTemp(kMinimal + "io_threads: 3\n")).io_threads, 3u);
  EXPECT_NE(loadError(kMinimal + "io_threads: 0\n").find("out of range"), std::string::npos);
  EXPECT_NE(loadError(kMinimal + "io_threads: many\n"), "loaded without error");
}

TEST(ConfigTest, TcpKeepaliveIsOnByDefaultAndReachesTheBackendSide) {
  const Config defaults = loadConfigFile(writeTemp(kMinimal));
  EXPECT_TRUE(defaults.tcp_keepalive.enabled);
  EXPECT_EQ(defaults.tcp_keepalive.idle_ms, 120000u);
  EXPECT_EQ(defaults.tcp_keepalive.interval_ms, 15000u);
  EXPECT_EQ(defaults.tcp_keepalive.count, 4u);
  const Config c = loadConfigFile(
      writeTemp(kMinimal + "tcp_keepalive: {idle_ms: 30000, interval_ms: 5000, count: 3}\n"));
  EXPECT_EQ(c.tcp_keepalive.idle_ms, 30000u);
  EXPECT_EQ(c.tcp_keepalive.interval_ms, 5000u);
  EXPECT_EQ(c.tcp_keepalive.count, 3u);
  EXPECT_EQ(c.backend.keepalive.idle_ms, 30000u);
  EXPECT_EQ(c.backend.keepalive.count, 3u);
  const Config off = loadConfigFile(writeTemp(kMinimal + "tcp_keepalive: {enabled: false}\n"));
  EXPECT_FALSE(off.tcp_keepalive.enabled);
  EXPECT_FALSE(off.backend.keepalive.enabled);
  // Below the socket's one-second unit, or more probes than Linux counts (127): refused.
  EXPECT_NE(loadError(kMinimal + "tcp_keepalive: {idle_ms: 500}\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(loadError(kMinimal + "tcp_keepalive: {count: 200}\n").find("out of range"),
            std::string::npos);
  // Above what the kernel takes for the idle time (32767 s): refused, not silently ignored.
  EXPECT_EQ(loadConfigFile(writeTemp(kMinimal + "tcp_keepalive: {idle_ms: 32767000}\n"))
                .tcp_keepalive.idle_ms,
            32767000u);
  EXPECT_NE(loadError(kMinimal + "tcp_keepalive: {idle_ms: 32768000}\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(loadError(kMinimal + "tcp_keepalive: {idle: 5}\n").find("tcp_keepalive.idle"),
            std::string::npos);
}

TEST(ConfigTest, LoginTimeoutIsAMinuteUnlessGiven) {
  EXPECT_EQ(loadConfigFile(writeTemp(kMinimal)).login_timeout_ms, 60000u);
  EXPECT_EQ(
      loadConfigFile(writeTemp(kMinimal + "limits: {login_timeout_ms: 500}\n")).login_timeout_ms,
      500u);
  EXPECT_NE(loadError(kMinimal + "limits: {login_timeout_ms: 50}\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(loadError(kMinimal + "limits: {login_timeout_ms: 600001}\n").find("out of range"),
            std::string::npos);
}

TEST(ConfigTest, MissingBackendDatabase) {
  const std::string e = loadError("backend: {user: svc}\npolicy: p.yaml\n");
  EXPECT_NE(e.find("backend.database is required"), std::string::npos) << e;
}

TEST(ConfigTest, MissingFile) {
  EXPECT_THROW(loadConfigFile("/nonexistent/tenantwall.yaml"), ConfigError);
}

}  // namespace
}  // namespace tenantwall::proxy
