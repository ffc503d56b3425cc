// Fuzz target: the untagged startup-phase packets (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest) and the start-up parameter allowlist the proxy applies to a StartupMessage.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/decoder.h"
#include "proxy/startup_params.h"

namespace p = tenantwall::protocol;

namespace {

// The oracle: what may reach PostgreSQL, written out independently of the allowlist's code.
bool forwardable(std::string_view name, std::string_view value) {
  static constexpr std::string_view kNames[] = {"application_name", "datestyle", "timezone",
                                                "intervalstyle", "extra_float_digits"};
  std::string lower(name);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  bool known = false;
  for (std::string_view n : kNames) known = known || lower == n;
  if (!known || value.size() > 63) return false;
  for (unsigned char c : value)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  const p::StartupResult r = p::decodeStartup(buf);
  if (r.status != p::DecodeStatus::kReady) return 0;
  if (r.consumed == 0 || r.consumed > buf.size()) __builtin_trap();  // must make progress
  if (r.packet.kind == p::StartupKind::kStartup) {
    (void)r.packet.param("user");
    std::vector<std::pair<std::string, std::string>> forwarded;
    const auto refusal = tenantwall::proxy::checkStartupParams(r.packet, "app", forwarded);
    if (!refusal)
      for (const auto& [name, value] : forwarded)
        if (!forwardable(name, value)) __builtin_trap();
  }
  return 0;
}
