// Loading the YAML configuration, with environment overrides for secrets.
#include "proxy/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <limits>

#include "policy/yaml_keys.h"
#include "proxy/audit_log.h"

namespace tenantwall::proxy {
namespace {

// One row per setting: where it lives and how it is read. Keeps the settings in one table.
struct Setting {
  const char* section;  // "" for top level
  const char* key;
  void (*apply)(Config&, const YAML::Node&);
};

template <typename T>
T number(const YAML::Node& node, T min, T max) {
  const auto value = node.as<long long>();
  if (value < static_cast<long long>(min) || value > static_cast<long long>(max))
    throw YAML::Exception(node.Mark(), "value out of range");
  return static_cast<T>(value);
}

std::string text(const YAML::Node& node) {
  if (!node.IsScalar()) throw YAML::Exception(node.Mark(), "expected a string");
  return node.Scalar();
}

// One of `names`, as the index of the name given.
std::size_t oneOf(const YAML::Node& node, std::initializer_list<const char*> names) {
  const std::string value = text(node);
  std::string expected;
  std::size_t i = 0;
  for (const char* name : names) {
    if (value == name) return i;
    expected += std::string(i++ ? ", " : "") + "'" + name + "'";
  }
  throw YAML::Exception(node.Mark(), "expected one of " + expected);
}

const Setting kSettings[] = {
    {"listen", "host", [](Config& c, const YAML::Node& n) { c.listen_host = text(n); }},
    {"listen", "port",
     [](Config& c, const YAML::Node& n) { c.listen_port = number<std::uint16_t>(n, 0, 65535); }},
    {"backend", "host", [](Config& c, const YAML::Node& n) { c.backend.host = text(n); }},
    {"backend", "port",
     [](Config& c, const YAML::Node& n) { c.backend.port = number<std::uint16_t>(n, 1, 65535); }},
    {"backend", "database", [](Config& c, const YAML::Node& n) { c.backend.database = text(n); }},
    {"backend", "user", [](Config& c, const YAML::Node& n) { c.backend.user = text(n); }},
    {"backend", "password", [](Config& c, const YAML::Node& n) { c.backend.password = text(n); }},
    {"backend", "password_file",
     [](Config& c, const YAML::Node& n) { c.backend.password_file = text(n); }},
    {"backend", "connect_timeout_ms",
     [](Config& c, const YAML::Node& n) {
       c.backend.connect_timeout_ms = number<std::uint32_t>(n, 1, 600000);
     }},
    {"tcp_keepalive", "enabled",
     [](Config& c, const YAML::Node& n) { c.tcp_keepalive.enabled = n.as<bool>(); }},
    {"tcp_keepalive", "idle_ms",
     [](Config& c, const YAML::Node& n) {
       // Linux takes at most 32767 s for the idle time and the interval.
       c.tcp_keepalive.idle_ms = number<std::uint32_t>(n, 1000, 32767000);
     }},
    {"tcp_keepalive", "interval_ms",
     [](Config& c, const YAML::Node& n) {
       c.tcp_keepalive.interval_ms = number<std::uint32_t>(n, 1000, 3600000);
     }},
    {"tcp_keepalive", "count",
     [](Config& c, const YAML::Node& n) {
       c.tcp_keepalive.count = number<std::uint32_t>(n, 1, 127);
     }},
    {"", "policy", [](Config& c, const YAML::Node& n) { c.policy_path = text(n); }},
    {"", "policy_poll_ms",
     [](Config& c, const YAML::Node& n) {
       c.policy_poll_ms = number<std::uint32_t>(n, 0, 3600000);
     }},
    {"", "policy_schema_check",
     [](Config& c, const YAML::Node& n) { c.policy_schema_check = n.as<bool>(); }},
    {"", "drain_timeout_ms",
     [](Config& c, const YAML::Node& n) {
       c.drain_timeout_ms = number<std::uint32_t>(n, 0, 3600000);
     }},
    {"", "io_threads",
     [](Config& c, const YAML::Node& n) {
       c.io_threads = n.IsScalar() && n.Scalar() == "auto" ? 0 : number<unsigned>(n, 1, 256);
     }},
    {"limits", "max_message_bytes",
     [](Config& c, const YAML::Node& n) {
       c.max_message_bytes = number<std::size_t>(n, 1024, 1u << 30);
     }},
    {"limits", "max_connections",
     [](Config& c, const YAML::Node& n) {
       c.max_connections = number<std::size_t>(n, 1, 1000000);
     }},
    {"limits", "login_timeout_ms",
     [](Config& c, const YAML::Node& n) {
       c.login_timeout_ms = number<std::uint32_t>(n, 100, 600000);
     }},
    {"audit", "path", [](Config& c, const YAML::Node& n) { c.audit.path = text(n); }},
    {"audit", "max_bytes",
     [](Config& c, const YAML::Node& n) {
       c.audit.max_bytes = number<std::size_t>(n, 4096, std::size_t{1} << 40);
     }},
    {"audit", "keep",
     [](Config& c, const YAML::Node& n) { c.audit.keep = number<unsigned>(n, 0, 1000); }},
    {"audit", "hmac_key_file",
     [](Config& c, const YAML::Node& n) { c.audit.hmac_key_file = text(n); }},
    {"audit", "on_failure",
     [](Config& c, const YAML::Node& n) {
       const std::string value = text(n);
       if (value != "refuse" && value != "continue")
         throw YAML::Exception(n.Mark(), "expected 'refuse' or 'continue'");
       c.audit.refuse_on_failure = value == "refuse";
     }},
    {"admin", "listen_host", [](Config& c, const YAML::Node& n) { c.admin.listen_host = text(n); }},
    {"admin", "port",
     [](Config& c, const YAML::Node& n) { c.admin.port = number<std::uint16_t>(n, 0, 65535); }},
    {"admin", "token_file", [](Config& c, const YAML::Node& n) { c.admin.token_file = text(n); }},
    {"approval", "approvers_dir",
     [](Config& c, const YAML::Node& n) { c.approval.approvers_dir = text(n); }},
    {"tls", "cert_file", [](Config& c, const YAML::Node& n) { c.tls.cert_file = text(n); }},
    {"tls", "key_file", [](Config& c, const YAML::Node& n) { c.tls.key_file = text(n); }},
    {"tls", "ca_file", [](Config& c, const YAML::Node& n) { c.tls.ca_file = text(n); }},
    {"tls", "client_certificates",
     [](Config& c, const YAML::Node& n) {
       c.tls.client_certificates =
           static_cast<ClientCertificates>(oneOf(n, {"none", "optional", "required"}));
     }},
    {"tls", "require", [](Config& c, const YAML::Node& n) { c.tls.require = n.as<bool>(); }},
    {"tls", "min_version",
     [](Config& c, const YAML::Node& n) {
       c.tls.tls13_only = oneOf(n, {"1.2", "1.3"}) == 1;
     }},
    {"backend.tls", "mode",
     [](Config& c, const YAML::Node& n) {
       c.backend.tls.mode = static_cast<BackendTlsMode>(
           oneOf(n, {"disable", "require", "verify-ca", "verify-full"}));
     }},
    {"backend.tls", "ca_file",
     [](Config& c, const YAML::Node& n) { c.backend.tls.ca_file = text(n); }},
    {"pool", "mode",
     [](Config& c, const YAML::Node& n) {
       c.pool.mode = static_cast<PoolMode>(oneOf(n, {"none", "session", "transaction"}));
     }},
    {"pool", "size",
     [](Config& c, const YAML::Node& n) { c.pool.size = number<std::size_t>(n, 1, 100000); }},
    {"pool", "idle_timeout_ms",
     [](Config& c, const YAML::Node& n) {
       c.pool.idle_timeout_ms = number<std::uint32_t>(n, 1000, 86400000);
     }},
    {"pool", "prepare_simple_queries",
     [](Config& c, const YAML::Node& n) { c.pool.prepare_simple_queries = n.as<bool>(); }},
    {"backend.tls", "server_name",
     [](Config& c, const YAML::Node& n) { c.backend.tls.server_name = text(n); }},
};

// A setting's node; sections nest one level ("backend.tls").
YAML::Node settingNode(YAML::Node root, std::string_view section, const char* key) {
  if (section.empty()) return root[key];
  const auto dot = section.find('.');
  if (dot == std::string_view::npos) return root[std::string(section)][key];
  return root[std::string(section.substr(0, dot))][std::string(section.substr(dot + 1))][key];
}

[[noreturn]] void fail(const std::string& path, const YAML::Mark& mark, const std::string& what) {
  throw ConfigError(path + ":" + std::to_string(mark.line + 1) + ":" +
                    std::to_string(mark.column + 1) + ": " + what);
}

bool known(std::string_view section, std::string_view key) {
  for (const auto& s : kSettings)
    if (section == s.section && key == s.key) return true;
  return false;
}

bool knownSection(std::string_view section) {
  for (const auto& s : kSettings)
    if (section == s.section) return true;
  return false;
}

void checkKeys(const std::string& path, const YAML::Node& map, std::string_view section) {
  if (!map.IsMap()) fail(path, map.Mark(), "expected a mapping");
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    const std::string nested = section.empty() ? key : std::string(section) + "." + key;
    if (kv.second.IsMap() && (section.empty() || knownSection(nested))) {
      checkKeys(path, kv.second, nested);
      continue;
    }
    if (!known(section, key))
      fail(path, kv.first.Mark(),
           "unknown setting '" + (section.empty() ? key : std::string(section) + "." + key) + "'");
  }
}

// Combinations of TLS settings that cannot mean what was intended are errors.
void checkTls(const std::string& path, const Config& config) {
  const TlsConfig& tls = config.tls;
  const auto error = [&](const std::string& what) { throw ConfigError(path + ": " + what); };
  if (tls.cert_file.empty() != tls.key_file.empty())
    error("tls.cert_file and tls.key_file must be given together");
  if (!tls.enabled() && (tls.require || !tls.ca_file.empty() ||
                         tls.client_certificates != ClientCertificates::kNone || tls.tls13_only))
    error("TLS settings need tls.cert_file and tls.key_file");
  if (tls.client_certificates != ClientCertificates::kNone && tls.ca_file.empty())
    error("tls.client_certificates needs tls.ca_file, the CAs client certificates must chain to");
  if (tls.client_certificates == ClientCertificates::kNone && !tls.ca_file.empty())
    error("tls.ca_file is only used with tls.client_certificates: optional or required");
  const BackendTlsConfig& backend = config.backend.tls;
  const bool verifies =
      backend.mode == BackendTlsMode::kVerifyCa || backend.mode == BackendTlsMode::kVerifyFull;
  if (!backend.ca_file.empty() && !verifies)
    error("backend.tls.ca_file needs backend.tls.mode verify-ca or verify-full");
  if (!backend.server_name.empty() && backend.mode == BackendTlsMode::kDisable)
    error("backend.tls.server_name needs backend.tls.mode other than disable");
}

}  // namespace

std::expected<std::string, std::string> readBackendPasswordFile(const BackendConfig& backend) {
  // Same rules as the audit key: contents without trailing whitespace, empty is an error.
  return readAuditKeyFile(backend.password_file);
}

Config loadConfigFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ":1:1: cannot open configuration file");
  } catch (const YAML::Exception& e) {
    fail(path, e.mark, e.msg);
  }
  Config config;
  config.source = path;
  if (const auto problem = policy::findYamlProblem(root))
    fail(path, problem->mark, problem->message);
  try {
    checkKeys(path, root, "");
    for (const auto& s : kSettings) {
      const YAML::Node node = settingNode(root, s.section, s.key);
      if (node) s.apply(config, node);
    }
  } catch (const YAML::Exception& e) {
    fail(path, e.mark, e.msg);
  }
  config.backend.keepalive = config.tcp_keepalive;
  if (!config.backend.password_file.empty() && !config.backend.password.empty())
    throw ConfigError(path + ": backend.password and backend.password_file are both set");
  const char* env_password = std::getenv("TENANTWALL_BACKEND_PASSWORD");
  if (env_password && *env_password) {
    if (!config.backend.password_file.empty())
      throw ConfigError(path +
                        ": TENANTWALL_BACKEND_PASSWORD and backend.password_file both "
                        "give the backend password; use one");
    config.backend.password = env_password;
  }
  if (config.backend.database.empty()) throw ConfigError(path + ": backend.database is required");
  if (config.backend.user.empty()) throw ConfigError(path + ": backend.user is required");
  if (config.policy_path.empty()) throw ConfigError(path + ": policy is required");
  const auto resolve = [&](std::string& file) {
    if (!file.empty() && std::filesystem::path(file).is_relative())
      file = (std::filesystem::path(path).parent_path() / file).lexically_normal();
  };
  resolve(config.policy_path);
  resolve(config.backend.password_file);
  if (!config.backend.password_file.empty()) {
    auto password = readBackendPasswordFile(config.backend);
    if (!password) throw ConfigError(path + ": backend.password_file: " + password.error());
    config.backend.password = std::move(*password);
  }
  resolve(config.audit.path);
  resolve(config.audit.hmac_key_file);
  if (!config.audit.hmac_key_file.empty()) {
    auto key = readAuditKeyFile(config.audit.hmac_key_file);
    if (!key) throw ConfigError(path + ": audit.hmac_key_file: " + key.error());
    config.audit.hmac_key = std::move(*key);
  }
  resolve(config.admin.token_file);
  resolve(config.approval.approvers_dir);
  if (!config.admin.token_file.empty()) {
    // Same rules as the audit key: contents without trailing whitespace, empty is an error.
    auto token = readAuditKeyFile(config.admin.token_file);
    if (!token) throw ConfigError(path + ": admin.token_file: " + token.error());
    config.admin.token = std::move(*token);
  }
  if (const char* token = std::getenv("TENANTWALL_ADMIN_TOKEN"); token && *token)
    config.admin.token = token;
  checkTls(path, config);
  resolve(config.tls.cert_file);
  resolve(config.tls.key_file);
  resolve(config.tls.ca_file);
  resolve(config.backend.tls.ca_file);
  return config;
}

}  // namespace tenantwall::proxy
