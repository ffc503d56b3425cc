// Start-up parameter allowlist.
#include "proxy/startup_params.h"

#include <cctype>
#include <string_view>

#include "protocol/sqlstate.h"

namespace tenantwall::proxy {
namespace {

namespace sqlstate = protocol::sqlstate;

constexpr std::string_view kForwarded[] = {"application_name", "DateStyle", "TimeZone",
                                           "IntervalStyle", "extra_float_digits"};
constexpr std::string_view kEncodings[] = {"UTF8", "UTF-8", "UNICODE", "SQL_ASCII"};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// Printable ASCII only and bounded, so a client cannot smuggle anything through a setting.
bool harmlessValue(std::string_view value) {
  if (value.size() > 63) return false;
  for (unsigned char c : value)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

}  // namespace

std::optional<protocol::PgError> checkStartupParams(
    const protocol::StartupPacket& startup, const std::string& database,
    std::vector<std::pair<std::string, std::string>>& forwarded) {
  for (const auto& [name, value] : startup.params) {
    if (name == "user") continue;
    if (name == "database") {
      if (value != database)
        return protocol::makeFatal("3D000", "database \"" + value + "\" does not exist",
                                   "connect to database \"" + database + "\"");
      continue;
    }
    if (name == "client_encoding") {
      bool ok = false;
      for (auto e : kEncodings) ok = ok || equalsIgnoreCase(value, e);
      if (!ok)
        return protocol::makeFatal(sqlstate::kInvalidParameterValue,
                                   "client_encoding \"" + value + "\" is not supported",
                                   "tenantwall accepts UTF8 clients only");
      continue;
    }
    bool allowed = false;
    for (auto p : kForwarded) allowed = allowed || equalsIgnoreCase(name, p);
    if (!allowed)
      return protocol::makeFatal(sqlstate::kInsufficientPrivilege,
                                 "startup parameter \"" + name + "\" is not allowed",
                                 "session settings are pinned by tenantwall");
    if (!harmlessValue(value))
      return protocol::makeFatal(sqlstate::kInvalidParameterValue,
                                 "invalid value for startup parameter \"" + name + "\"");
    forwarded.emplace_back(name, value);
  }
  return std::nullopt;
}

}  // namespace tenantwall::proxy
