// Fuzz target: SCRAM-SHA-256 both ways. The first byte picks the side: even feeds the
// ScramServer (fixed verifier) client-first and client-final, odd feeds the ScramClient
// server-first and server-final; the two messages are split at the first 0x00 byte. Every
// input also goes through parseScramVerifier and base64Decode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/scram.h"

namespace p = tenantwall::protocol;

namespace {

// Fixed values so the seed corpus (make_corpus.cc) replays a whole successful exchange.
constexpr std::string_view kPassword = "fuzz-password";
constexpr std::string_view kSalt = "fuzz-salt-16byte";
constexpr int kIterations = 4096;
constexpr std::string_view kClientNonce = "fuzzclientnonce";
constexpr std::string_view kServerNonce = "fuzzservernonce";
// PBKDF2 cost grows with the server's "i=": the client has no upper bound (see README.md),
// so larger counts are skipped here to keep each run fast.
constexpr long kMaxFuzzIterations = 20000;

const p::ScramVerifier& verifier() {
  static const p::ScramVerifier v =
      *p::parseScramVerifier(p::makeScramVerifier(kPassword, kSalt, kIterations));
  return v;
}

bool iterationsTooHigh(std::string_view server_first) {
  for (std::size_t at = server_first.find("i="); at != std::string_view::npos;
       at = server_first.find("i=", at + 1)) {
    long n = 0;
    for (std::size_t k = at + 2; k < server_first.size() && server_first[k] >= '0' &&
                                 server_first[k] <= '9' && n <= kMaxFuzzIterations;
         ++k)
      n = n * 10 + (server_first[k] - '0');
    if (n > kMaxFuzzIterations) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  (void)p::parseScramVerifier(all);
  (void)p::base64Decode(all);
  if (all.empty()) return 0;

  const std::string_view rest = all.substr(1);
  const std::size_t nul = rest.find('\0');
  const std::string_view first = rest.substr(0, nul);
  const std::string_view second =
      nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);

  if ((all[0] & 1) == 0) {
    p::ScramServer server{verifier(), std::string(kServerNonce)};
    if (server.handleClientFirst(first)) (void)server.handleClientFinal(second);
  } else {
    if (iterationsTooHigh(first)) return 0;
    p::ScramClient client{std::string(kPassword), std::string(kClientNonce)};
    (void)client.clientFirst();
    if (client.handleServerFirst(first)) (void)client.handleServerFinal(second);
  }
  return 0;
}
