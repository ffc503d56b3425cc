// SCRAM-SHA-256 exchanges (RFC 5802, RFC 7677) and the md5 password hash, as PostgreSQL's
// auth-scram.c and libpq's fe-auth-scram.c do them, on OpenSSL primitives.
#include "protocol/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <climits>
#include <optional>
#include <stdexcept>
#include <utility>

#include "protocol/sqlstate.h"

namespace tenantwall::protocol {
namespace {

constexpr std::string_view kMechanismPrefix = "SCRAM-SHA-256$";
constexpr std::size_t kKeyLength = 32;       // SHA-256 output
constexpr std::size_t kSaltLength = 16;      // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
constexpr std::size_t kRawNonceLength = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN
constexpr int kDefaultIterations = 4096;     // PostgreSQL's default scram_iterations
// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH: no honest SCRAM message comes near it, and it keeps
// an unauthenticated client from making us copy and hash megabytes.
constexpr std::size_t kMaxClientMessage = 65535;

// ScramServer::state_. The gs2 header the client chose ("n,," or "y,,") must be echoed in the
// client-final message, so it is remembered as part of the state rather than in a new member.
constexpr int kServerAwaitingFirst = 0;
constexpr int kServerAwaitingFinalGs2N = 1;
constexpr int kServerAwaitingFinalGs2Y = 2;
constexpr int kServerDone = 3;
constexpr int kServerFailed = 4;

// ScramClient::state_.
constexpr int kClientStart = 0;
constexpr int kClientSentFirst = 1;
constexpr int kClientSentFinal = 2;
constexpr int kClientDone = 3;
constexpr int kClientFailed = 4;

const unsigned char* bytesOf(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::optional<std::string> randomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return std::nullopt;
  return out;
}

// For callers that cannot return an error: a failing CSPRNG is not something one connection
// can recover from, and carrying on without randomness would be worse.
std::string randomBytesOrThrow(std::size_t n) {
  auto bytes = randomBytes(n);
  if (!bytes) throw std::runtime_error("RAND_bytes failed");
  return std::move(*bytes);
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytesOf(data), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &length);
  out.resize(length);
  return out;
}

std::string digest(const EVP_MD* md, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length, md,
             nullptr);
  out.resize(length);
  return out;
}

std::optional<std::string> saltedPassword(std::string_view password, std::string_view salt,
                                          int iterations) {
  // PostgreSQL runs SASLprep first; for ASCII passwords that is the identity. Other passwords
  // are used as raw bytes, which matches PostgreSQL when they are already NFKC-normalized.
  std::string out(kKeyLength, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytesOf(salt),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1)
    return std::nullopt;
  return out;
}

std::string xorBytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (std::size_t i = 0; i < out.size() && i < b.size(); ++i)
    out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

// Compares two SHA-256 values. Anything but 32 bytes on either side (an OpenSSL failure leaves
// an empty string) is a mismatch, so two failures can never look equal.
bool keysEqual(std::string_view a, std::string_view b) {
  return a.size() == kKeyLength && b.size() == kKeyLength &&
         CRYPTO_memcmp(a.data(), b.data(), kKeyLength) == 0;
}

std::string toHex(std::string_view raw) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except the comma.
bool isPrintable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  return true;
}

std::optional<int> parsePositiveInt(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  long long value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  if (value < 1 || value > INT_MAX) return std::nullopt;
  return static_cast<int>(value);
}

// Reads "<name>=<value>" from the front of in, up to the next comma or the end, and leaves in
// at that comma. A different attribute name is a failure.
std::optional<std::string_view> readAttribute(std::string_view& in, char name) {
  if (in.size() < 2 || in[0] != name || in[1] != '=') return std::nullopt;
  const std::size_t end = in.find(',', 2);
  const std::string_view value = in.substr(2, end == std::string_view::npos ? end : end - 2);
  in.remove_prefix(2 + value.size());
  return value;
}

// Reads any attribute ("a".."z" / "A".."Z", then "="), for extensions.
std::optional<std::pair<char, std::string_view>> readAnyAttribute(std::string_view& in) {
  if (in.empty()) return std::nullopt;
  const char name = in[0];
  if (!((name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z'))) return std::nullopt;
  auto value = readAttribute(in, name);
  if (!value) return std::nullopt;
  return std::pair{name, *value};
}

bool consumeComma(std::string_view& in) {
  if (in.empty() || in[0] != ',') return false;
  in.remove_prefix(1);
  return true;
}

// RFC 5802 saslname: "," and "=" are escaped.
std::string saslName(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == ',')
      out += "=2C";
    else if (c == '=')
      out += "=3D";
    else
      out.push_back(c);
  }
  return out;
}

// An exchange that goes wrong ends the connection, so errors are FATAL as in PostgreSQL.
std::unexpected<PgError> malformedScram(std::string detail) {
  PgError error = makeFatal(sqlstate::kProtocolViolation, "malformed SCRAM message");
  error.detail = std::move(detail);
  return std::unexpected(std::move(error));
}

std::unexpected<PgError> authenticationFailed() {
  return std::unexpected(makeFatal(sqlstate::kInvalidPassword, "password authentication failed"));
}

// The keys of a verifier derived from a salted password (RFC 5802 section 3).
struct DerivedKeys {
  std::string client_key;
  std::string stored_key;
  std::string server_key;
};

DerivedKeys deriveKeys(std::string_view salted) {
  DerivedKeys keys;
  keys.client_key = hmacSha256(salted, "Client Key");
  keys.stored_key = digest(EVP_sha256(), keys.client_key);
  keys.server_key = hmacSha256(salted, "Server Key");
  return keys;
}

// Random keys: SHA-256(ClientKey) would have to hit a random 32-byte value.
ScramVerifier impossibleWithSalt(std::string salt) {
  ScramVerifier v;
  v.iterations = kDefaultIterations;
  v.salt = std::move(salt);
  v.stored_key = randomBytesOrThrow(kKeyLength);
  v.server_key = randomBytesOrThrow(kKeyLength);
  return v;
}

// Drawn once per process: the secret behind per-user mock salts.
const std::string& mockSaltSecret() {
  static const std::string secret = randomBytesOrThrow(kKeyLength);
  return secret;
}

}  // namespace

// ---- base64 (RFC 4648, padded, no line breaks) ----

std::string base64Encode(std::string_view raw) {
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(raw[i]) << 16) |
                            (static_cast<unsigned char>(raw[i + 1]) << 8) |
                            static_cast<unsigned char>(raw[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t left = raw.size() - i;
  if (left > 0) {
    std::uint32_t v = static_cast<unsigned char>(raw[i]) << 16;
    if (left == 2) v |= static_cast<unsigned char>(raw[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(left == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Strict: padding required, no whitespace, and unused bits must be zero, so every byte string
// has exactly one accepted spelling.
std::expected<std::string, std::string> base64Decode(std::string_view text) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::unexpected("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    int d[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 - pad; ++k) {
      d[k] = value(text[i + static_cast<std::size_t>(k)]);
      if (d[k] < 0) return std::unexpected("invalid base64 character");
    }
    const std::uint32_t v =
        (static_cast<std::uint32_t>(d[0]) << 18) | (static_cast<std::uint32_t>(d[1]) << 12) |
        (static_cast<std::uint32_t>(d[2]) << 6) | static_cast<std::uint32_t>(d[3]);
    out.push_back(static_cast<char>(v >> 16));
    if (pad < 2) out.push_back(static_cast<char>(v >> 8));
    if (pad < 1) out.push_back(static_cast<char>(v));
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
      return std::unexpected("non-canonical base64 padding");
  }
  return out;
}

// ---- verifiers ----

std::expected<ScramVerifier, std::string> parseScramVerifier(std::string_view text) {
  if (!text.starts_with(kMechanismPrefix))
    return std::unexpected("SCRAM verifier must start with \"SCRAM-SHA-256$\"");
  std::string_view rest = text.substr(kMechanismPrefix.size());
  const std::size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos)
    return std::unexpected(
        "SCRAM verifier must look like SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
  const std::string_view params = rest.substr(0, dollar);
  const std::string_view keys = rest.substr(dollar + 1);
  const std::size_t colon1 = params.find(':');
  const std::size_t colon2 = keys.find(':');
  if (colon1 == std::string_view::npos || colon2 == std::string_view::npos)
    return std::unexpected(
        "SCRAM verifier must look like SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");

  ScramVerifier v;
  auto iterations = parsePositiveInt(params.substr(0, colon1));
  if (!iterations)
    return std::unexpected("SCRAM verifier iteration count is not a positive integer");
  v.iterations = *iterations;
  auto salt = base64Decode(params.substr(colon1 + 1));
  if (!salt || salt->empty()) return std::unexpected("SCRAM verifier salt is not valid base64");
  v.salt = std::move(*salt);
  auto stored = base64Decode(keys.substr(0, colon2));
  if (!stored || stored->size() != kKeyLength)
    return std::unexpected("SCRAM verifier StoredKey is not 32 bytes of base64");
  v.stored_key = std::move(*stored);
  auto server = base64Decode(keys.substr(colon2 + 1));
  if (!server || server->size() != kKeyLength)
    return std::unexpected("SCRAM verifier ServerKey is not 32 bytes of base64");
  v.server_key = std::move(*server);
  return v;
}

std::string makeScramVerifier(std::string_view password, std::string_view salt, int iterations) {
  // Used when writing configuration, never on untrusted input, so bad arguments throw.
  if (iterations < 1) throw std::invalid_argument("SCRAM iteration count must be positive");
  const std::string salt_bytes = salt.empty() ? randomBytesOrThrow(kSaltLength) : std::string(salt);
  auto salted = saltedPassword(password, salt_bytes, iterations);
  if (!salted) throw std::runtime_error("PBKDF2 failed");
  const DerivedKeys keys = deriveKeys(*salted);
  return std::string(kMechanismPrefix) + std::to_string(iterations) + ":" +
         base64Encode(salt_bytes) + "$" + base64Encode(keys.stored_key) + ":" +
         base64Encode(keys.server_key);
}

ScramVerifier impossibleScramVerifier() {
  // One salt per process, so repeated attempts do not see a salt that changes every time.
  static const std::string salt = randomBytesOrThrow(kSaltLength);
  return impossibleWithSalt(salt);
}

ScramVerifier impossibleScramVerifier(std::string_view user) {
  return impossibleWithSalt(hmacSha256(mockSaltSecret(), user).substr(0, kSaltLength));
}

// ---- server side ----

ScramServer::ScramServer(ScramVerifier verifier, std::string nonce_for_tests)
    : verifier_(std::move(verifier)), server_nonce_part_(std::move(nonce_for_tests)) {}

std::expected<std::string, PgError> ScramServer::handleClientFirst(std::string_view client_first) {
  if (state_ != kServerAwaitingFirst) {
    state_ = kServerFailed;
    return malformedScram("client-first-message sent out of order");
  }
  // Any failure below ends the exchange; only success moves it on.
  state_ = kServerFailed;
  if (client_first.size() > kMaxClientMessage) return malformedScram("message too long");
  if (client_first.find('\0') != std::string_view::npos)
    return malformedScram("message contains a NUL byte");

  // gs2 header: "n,," (no channel binding) or "y,," (client could bind, but we did not offer
  // SCRAM-SHA-256-PLUS). "p=" (channel binding) and authorization identities are refused.
  int next_state = 0;
  if (client_first.starts_with("n,,"))
    next_state = kServerAwaitingFinalGs2N;
  else if (client_first.starts_with("y,,"))
    next_state = kServerAwaitingFinalGs2Y;
  else if (client_first.starts_with("p="))
    return malformedScram("channel binding is not supported");
  else
    return malformedScram("unexpected GS2 header (only \"n,,\" and \"y,,\" are accepted)");
  std::string_view in = client_first.substr(3);
  const std::string_view bare = in;

  if (in.starts_with("m=")) return malformedScram("mandatory SCRAM extensions are not supported");
  // PostgreSQL takes the user name from the startup packet and ignores this one.
  if (!readAttribute(in, 'n') || !consumeComma(in))
    return malformedScram("expected user name attribute");
  auto client_nonce = readAttribute(in, 'r');
  if (!client_nonce) return malformedScram("expected nonce attribute");
  if (client_nonce->empty() || !isPrintable(*client_nonce))
    return malformedScram("client nonce is empty or not printable");
  while (!in.empty()) {
    if (!consumeComma(in) || !readAnyAttribute(in)) return malformedScram("bad extension");
  }

  if (server_nonce_part_.empty()) {
    auto raw = randomBytes(kRawNonceLength);
    if (!raw)
      return std::unexpected(makeFatal(sqlstate::kInternalError, "could not generate nonce"));
    server_nonce_part_ = base64Encode(*raw);
  }
  client_first_bare_ = std::string(bare);
  nonce_ = std::string(*client_nonce) + server_nonce_part_;
  server_first_ = "r=" + nonce_ + ",s=" + base64Encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  state_ = next_state;
  return server_first_;
}

std::expected<std::string, PgError> ScramServer::handleClientFinal(std::string_view client_final) {
  if (state_ != kServerAwaitingFinalGs2N && state_ != kServerAwaitingFinalGs2Y) {
    state_ = kServerFailed;
    return malformedScram("client-final-message sent out of order");
  }
  const std::string_view expected_binding = state_ == kServerAwaitingFinalGs2N ? "biws" : "eSws";
  state_ = kServerFailed;
  if (client_final.size() > kMaxClientMessage) return malformedScram("message too long");
  if (client_final.find('\0') != std::string_view::npos)
    return malformedScram("message contains a NUL byte");

  std::string_view in = client_final;
  auto binding = readAttribute(in, 'c');
  if (!binding || !consumeComma(in)) return malformedScram("expected channel binding attribute");
  if (*binding != expected_binding)
    return malformedScram("channel binding data does not match the GS2 header");
  auto nonce = readAttribute(in, 'r');
  if (!nonce) return malformedScram("expected nonce attribute");
  if (*nonce != nonce_) return malformedScram("nonce does not match");
  // Extensions may sit between the nonce and the proof; the proof must come last.
  std::string_view proof_b64;
  for (;;) {
    if (!consumeComma(in)) return malformedScram("expected proof attribute");
    auto attr = readAnyAttribute(in);
    if (!attr) return malformedScram("bad attribute");
    if (attr->first == 'p') {
      proof_b64 = attr->second;
      break;
    }
  }
  if (!in.empty()) return malformedScram("garbage at end of client-final-message");
  const std::string_view without_proof =
      client_final.substr(0, client_final.size() - proof_b64.size() - 3);  // ",p="
  auto proof = base64Decode(proof_b64);
  if (!proof || proof->size() != kKeyLength) return malformedScram("malformed proof");

  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const std::string client_signature = hmacSha256(verifier_.stored_key, auth_message);
  const std::string client_key = xorBytes(*proof, client_signature);
  if (!keysEqual(digest(EVP_sha256(), client_key), verifier_.stored_key))
    return authenticationFailed();

  state_ = kServerDone;
  return "v=" + base64Encode(hmacSha256(verifier_.server_key, auth_message));
}

// ---- client side ----

ScramClient::ScramClient(std::string password, std::string nonce_for_tests)
    : password_(std::move(password)),
      nonce_(nonce_for_tests.empty() ? base64Encode(randomBytesOrThrow(kRawNonceLength))
                                     : std::move(nonce_for_tests)) {}

std::string ScramClient::clientFirst() { return clientFirst({}); }

std::string ScramClient::clientFirst(std::string_view user) {
  // Asking again returns the message already sent, so the exchange cannot be restarted.
  if (state_ == kClientStart) {
    client_first_bare_ = "n=" + saslName(user) + ",r=" + nonce_;
    state_ = kClientSentFirst;
  }
  return "n,," + client_first_bare_;
}

std::expected<std::string, std::string> ScramClient::handleServerFirst(
    std::string_view server_first) {
  if (state_ != kClientSentFirst) {
    state_ = kClientFailed;
    return std::unexpected("server-first-message out of order");
  }
  state_ = kClientFailed;
  std::string_view in = server_first;
  if (in.starts_with("m=")) return std::unexpected("server requires an unsupported extension");
  auto nonce = readAttribute(in, 'r');
  if (!nonce || !consumeComma(in)) return std::unexpected("malformed server-first-message");
  // The server must extend our nonce, or it may be replaying another exchange.
  if (!nonce->starts_with(nonce_) || nonce->size() == nonce_.size() || !isPrintable(*nonce))
    return std::unexpected("server nonce does not extend the client nonce");
  auto salt_b64 = readAttribute(in, 's');
  if (!salt_b64 || !consumeComma(in)) return std::unexpected("malformed server-first-message");
  auto salt = base64Decode(*salt_b64);
  if (!salt || salt->empty()) return std::unexpected("malformed salt");
  auto iterations_text = readAttribute(in, 'i');
  if (!iterations_text) return std::unexpected("malformed server-first-message");
  auto iterations = parsePositiveInt(*iterations_text);
  if (!iterations) return std::unexpected("malformed iteration count");
  if (!in.empty()) return std::unexpected("garbage at end of server-first-message");

  auto salted = saltedPassword(password_, *salt, *iterations);
  if (!salted) return std::unexpected("PBKDF2 failed");
  const DerivedKeys keys = deriveKeys(*salted);
  const std::string without_proof = "c=biws,r=" + std::string(*nonce);
  const std::string auth_message =
      client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
  const std::string proof = xorBytes(keys.client_key, hmacSha256(keys.stored_key, auth_message));
  server_signature_ = hmacSha256(keys.server_key, auth_message);
  state_ = kClientSentFinal;
  return without_proof + ",p=" + base64Encode(proof);
}

std::expected<void, std::string> ScramClient::handleServerFinal(std::string_view server_final) {
  if (state_ != kClientSentFinal) {
    state_ = kClientFailed;
    return std::unexpected("server-final-message out of order");
  }
  state_ = kClientFailed;
  std::string_view in = server_final;
  if (auto error = readAttribute(in, 'e'))
    return std::unexpected("server reported error: " + std::string(*error));
  auto verifier = readAttribute(in, 'v');
  if (!verifier || !in.empty()) return std::unexpected("malformed server-final-message");
  auto signature = base64Decode(*verifier);
  if (!signature || !keysEqual(*signature, server_signature_))
    return std::unexpected("server signature does not match");
  state_ = kClientDone;
  return {};
}

// ---- md5 ----

std::string md5PasswordResponse(std::string_view user, std::string_view password,
                                std::string_view salt4) {
  const std::string inner = toHex(digest(EVP_md5(), std::string(password) + std::string(user)));
  return "md5" + toHex(digest(EVP_md5(), inner + std::string(salt4)));
}

}  // namespace tenantwall::protocol
