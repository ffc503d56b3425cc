// JSON Web Key Sets (RFC 7517, RFC 7518 section 6): the keys that may sign the bearer tokens a
// policy accepts. Parsed once per policy load into OpenSSL keys; read-only afterwards.
#pragma once

#include <openssl/types.h>

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

// The JWS algorithms tenantwall verifies (RFC 7518 section 3). "none" is never one of them.
enum class JwtAlgorithm { kRs256, kEs256, kHs256 };

std::optional<JwtAlgorithm> jwtAlgorithmFromName(std::string_view name);
std::string_view jwtAlgorithmName(JwtAlgorithm algorithm);

enum class JwkType { kRsa, kEc, kOct };

std::string_view jwkTypeName(JwkType type);

// One verification key: an RSA (2048 bits or more) or EC P-256 public key, or an HMAC secret
// of at least 32 bytes ("oct").
struct Jwk {
  std::string kid;  // empty when the key set gives none
  JwkType type = JwkType::kRsa;
  std::optional<JwtAlgorithm> algorithm;  // the key's own "alg", when it names one
  std::shared_ptr<EVP_PKEY> public_key;   // RSA and EC
  std::string secret;                     // oct

  // Whether a token signed with this algorithm may be checked with this key: the key type must
  // be the algorithm's (so an HS256 token can never be checked against an RSA key's bytes), and
  // the key's own "alg", when given, must agree.
  bool fits(JwtAlgorithm algorithm) const;
};

struct JwkSet {
  std::vector<Jwk> keys;  // in file order; kids are unique

  const Jwk* findKid(std::string_view kid) const;
};

// Parses a JWKS document ({"keys": [...]}). Keys whose "use" is "enc" are skipped; any other
// key that cannot be used exactly as written (unknown kty or curve, short RSA modulus, a point
// off the curve, private members, duplicate kid) makes the whole set an error, which names the
// key by position and kid.
std::expected<JwkSet, std::string> parseJwkSet(std::string_view json);

// Strict base64url without padding (RFC 7515 section 2): any other character, a length that
// cannot occur or non-zero unused bits are errors.
std::optional<std::string> base64UrlDecode(std::string_view text);
std::string base64UrlEncode(std::string_view bytes);

}  // namespace tenantwall::policy
