// Bearer-token authentication: split and decode the compact JWS, pick the key, verify the
// signature with OpenSSL EVP, check the registered claims, then map the claims to a principal.
// Order matters: nothing in the payload is read before the signature is known good.
#include "policy/jwt.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "protocol/sqlstate.h"

namespace tenantwall::policy {
namespace {

using Json = nlohmann::json;
namespace sqlstate = protocol::sqlstate;

constexpr std::size_t kSha256Bytes = 32;
constexpr std::size_t kEs256SignatureBytes = 64;  // r || s, 32 bytes each (RFC 7518 3.4)

TokenRefusal invalidToken(std::string message, std::string hint = {}) {
  return TokenRefusal{
      protocol::makeFatal(sqlstate::kInvalidPassword, std::move(message), std::move(hint)), {}};
}

TokenRefusal notAdmitted(std::string user, std::string message, std::string hint = {}) {
  return TokenRefusal{protocol::makeFatal(sqlstate::kInvalidAuthorizationSpecification,
                                          std::move(message), std::move(hint)),
                      std::move(user)};
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out.append(out.empty() ? "" : ", ").append(item);
  return out;
}

std::string allowedAlgorithms(const JwtConfig& config) {
  std::vector<std::string> names;
  for (const auto a : config.algorithms) names.emplace_back(jwtAlgorithmName(a));
  return joined(names);
}

const unsigned char* bytesOf(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A base64url part that must hold one JSON object.
std::optional<Json> decodeObject(std::string_view part) {
  const auto bytes = base64UrlDecode(part);
  if (!bytes) return std::nullopt;
  Json value = Json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

// The parts of a compact JWS: header.payload.signature.
struct CompactJws {
  std::string_view header, payload, signature;
  std::string_view signingInput(std::string_view token) const {
    return token.substr(0, header.size() + 1 + payload.size());
  }
};

std::expected<CompactJws, TokenRefusal> splitToken(std::string_view token) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos || parts.size() > 5) break;
    start = dot + 1;
  }
  if (parts.size() == 5)
    return std::unexpected(
        invalidToken("encrypted tokens (JWE) are not supported", "send a signed token (JWS)"));
  if (parts.size() != 3)
    return std::unexpected(invalidToken("the password is not a token (header.payload.signature)"));
  return CompactJws{parts[0], parts[1], parts[2]};
}

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

bool verifyDigestSignature(EVP_PKEY* key, std::string_view input, std::string_view signature) {
  const std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), bytesOf(signature), signature.size(), bytesOf(input),
                          input.size()) == 1;
}

// JOSE carries an ECDSA signature as r || s; OpenSSL verifies the DER SEQUENCE of two INTEGERs.
std::optional<std::string> joseToDer(std::string_view signature) {
  if (signature.size() != kEs256SignatureBytes) return std::nullopt;
  const std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytesOf(signature), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytesOf(signature) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return std::nullopt;
  return der;
}

bool verifyHmac(const std::string& secret, std::string_view input, std::string_view signature) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), bytesOf(input),
            input.size(), mac, &length) ||
      length != kSha256Bytes || signature.size() != kSha256Bytes)
    return false;
  return CRYPTO_memcmp(mac, signature.data(), kSha256Bytes) == 0;
}

bool verifySignature(const Jwk& key, JwtAlgorithm algorithm, std::string_view input,
                     std::string_view signature) {
  if (!key.fits(algorithm)) return false;
  switch (algorithm) {
    case JwtAlgorithm::kRs256:
      return verifyDigestSignature(key.public_key.get(), input, signature);
    case JwtAlgorithm::kEs256: {
      const auto der = joseToDer(signature);
      return der && verifyDigestSignature(key.public_key.get(), input, *der);
    }
    case JwtAlgorithm::kHs256:
      return verifyHmac(key.secret, input, signature);
  }
  return false;
}

// The keys a token may be checked with: the one its kid names, or every key that fits its alg.
std::expected<std::vector<const Jwk*>, TokenRefusal> candidateKeys(const JwkSet& set,
                                                                   const Json& header,
                                                                   JwtAlgorithm algorithm) {
  const std::string_view alg = jwtAlgorithmName(algorithm);
  const auto kid = header.find("kid");
  if (kid == header.end()) {
    std::vector<const Jwk*> keys;
    for (const auto& key : set.keys)
      if (key.fits(algorithm)) keys.push_back(&key);
    if (keys.empty())
      return std::unexpected(invalidToken("no key in the policy's key set can verify " +
                                          std::string(alg) + " tokens"));
    return keys;
  }
  if (!kid->is_string()) return std::unexpected(invalidToken("token header 'kid' is not a string"));
  const auto& name = kid->get_ref<const std::string&>();
  const Jwk* key = set.findKid(name);
  if (!key)
    return std::unexpected(invalidToken(
        "token key id \"" + name + "\" is not in the policy's key set",
        "if the identity provider rotated its keys, update jwks_file and reload the policy"));
  if (!key->fits(algorithm))
    return std::unexpected(invalidToken("token key id \"" + name + "\" names a key of type " +
                                        std::string(jwkTypeName(key->type)) +
                                        ", which cannot verify " + std::string(alg) + " tokens"));
  return std::vector<const Jwk*>{key};
}

// A NumericDate (RFC 7519 section 2): seconds, possibly fractional; clamped far from overflow.
std::optional<std::int64_t> numericDate(const Json& payload, const char* claim) {
  const auto it = payload.find(claim);
  if (it == payload.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();
  constexpr double kLimit = 1e15;  // about 31 million years
  return static_cast<std::int64_t>(std::floor(std::clamp(value, -kLimit, kLimit)));
}

std::expected<std::int64_t, TokenRefusal> checkRegisteredClaims(const Json& payload,
                                                                const JwtConfig& config,
                                                                std::int64_t now) {
  const auto exp = numericDate(payload, "exp");
  if (!exp)
    return std::unexpected(invalidToken("token has no expiry time (exp)",
                                        "the identity provider must issue expiring tokens"));
  if (now >= *exp + config.leeway_seconds)
    return std::unexpected(
        invalidToken("token expired at " + tokenTime(*exp), "get a new token and reconnect"));
  if (payload.contains("nbf")) {
    const auto nbf = numericDate(payload, "nbf");
    if (!nbf) return std::unexpected(invalidToken("token claim 'nbf' is not a number"));
    if (now + config.leeway_seconds < *nbf)
      return std::unexpected(invalidToken("token is not valid before " + tokenTime(*nbf)));
  }
  const auto iss = payload.find("iss");
  if (iss == payload.end() || !iss->is_string())
    return std::unexpected(invalidToken("token has no issuer (iss)"));
  if (iss->get_ref<const std::string&>() != config.issuer)
    return std::unexpected(invalidToken("token issuer \"" + iss->get<std::string>() +
                                        "\" is not the policy's issuer \"" + config.issuer + "\""));
  const auto aud = payload.find("aud");
  std::vector<std::string> audiences;
  if (aud != payload.end() && aud->is_string()) audiences.push_back(aud->get<std::string>());
  if (aud != payload.end() && aud->is_array())
    for (const auto& a : *aud)
      if (a.is_string()) audiences.push_back(a.get<std::string>());
  if (audiences.empty()) return std::unexpected(invalidToken("token has no audience (aud)"));
  for (const auto& wanted : config.audiences)
    for (const auto& a : audiences)
      if (a == wanted) return *exp;
  return std::unexpected(invalidToken("token audience (" + joined(audiences) +
                                      ") does not include \"" + joined(config.audiences) + "\""));
}

bool hasControlCharacter(std::string_view text) {
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

// A claim value as principal text: strings as they are, integers and booleans in JSON form.
std::optional<std::string> scalarText(const Json& value) {
  std::string text;
  if (value.is_string())
    text = value.get<std::string>();
  else if (value.is_boolean() || value.is_number_integer() || value.is_number_unsigned())
    text = value.dump();
  else
    return std::nullopt;
  if (hasControlCharacter(text)) return std::nullopt;
  return text;
}

std::expected<std::vector<std::string>, TokenRefusal> groupsOf(const Json& payload,
                                                               const JwtConfig& config,
                                                               const std::string& user) {
  std::vector<std::string> groups;
  if (config.groups_claim.empty()) return groups;
  const auto it = payload.find(config.groups_claim);
  if (it == payload.end() || it->is_null()) return groups;
  const TokenRefusal wrong = notAdmitted(
      user, "token claim \"" + config.groups_claim + "\" must be a list of group names");
  if (it->is_string()) {
    auto one = scalarText(*it);
    if (!one) return std::unexpected(wrong);
    groups.push_back(std::move(*one));
    return groups;
  }
  if (!it->is_array()) return std::unexpected(wrong);
  for (const auto& g : *it) {
    if (!g.is_string()) return std::unexpected(wrong);
    auto name = scalarText(g);
    if (!name) return std::unexpected(wrong);
    groups.push_back(std::move(*name));
  }
  return groups;
}

std::expected<void, TokenRefusal> addAttributes(const Json& payload, const JwtConfig& config,
                                                Principal& principal) {
  for (const auto& [attribute, claim] : config.attribute_claims) {
    const auto it = payload.find(claim);
    if (it == payload.end() || it->is_null()) continue;  // absent: rules using it refuse
    const TokenRefusal wrong =
        notAdmitted(principal.user, "token claim \"" + claim +
                                        "\" must be a string, integer, boolean or a list of them");
    Attribute value;
    if (it->is_array()) {
      value.list = true;
      for (const auto& item : *it) {
        auto text = scalarText(item);
        if (!text) return std::unexpected(wrong);
        value.values.push_back(std::move(*text));
      }
    } else {
      auto text = scalarText(*it);
      if (!text) return std::unexpected(wrong);
      value.values.push_back(std::move(*text));
    }
    principal.attributes.emplace(attribute, std::move(value));
  }
  return {};
}

std::expected<Principal, TokenRefusal> principalOf(const Json& payload, const JwtConfig& config,
                                                   const Policy& policy) {
  Principal principal;
  const auto user = payload.find(config.user_claim);
  if (user == payload.end() || !user->is_string() || user->get_ref<const std::string&>().empty())
    return std::unexpected(
        notAdmitted({}, "token has no \"" + config.user_claim + "\" claim naming the user"));
  principal.user = user->get<std::string>();
  if (hasControlCharacter(principal.user))
    return std::unexpected(notAdmitted({}, "token user name contains control characters"));

  const auto tenant = payload.find(config.tenant_claim);
  if (tenant == payload.end() || !tenant->is_string() ||
      tenant->get_ref<const std::string&>().empty())
    return std::unexpected(notAdmitted(
        principal.user, "token has no \"" + config.tenant_claim + "\" claim naming the tenant"));
  principal.tenant = tenant->get<std::string>();
  if (!policy.isTenant(principal.tenant))
    return std::unexpected(notAdmitted(principal.user, "token tenant \"" + principal.tenant +
                                                           "\" is not a tenant of this policy"));

  auto groups = groupsOf(payload, config, principal.user);
  if (!groups) return std::unexpected(groups.error());
  principal.groups = std::move(*groups);
  for (const auto& mapping : config.roles) {
    for (const auto& group : principal.groups)
      if (group == mapping.group) principal.role = mapping.role;
    if (!principal.role.empty()) break;
  }
  if (principal.role.empty())
    return std::unexpected(notAdmitted(
        principal.user,
        principal.groups.empty()
            ? "token carries no groups, so no role of the policy's jwt.roles applies"
            : "token groups (" + joined(principal.groups) +
                  ") match no role in the policy's jwt.roles",
        "the identity provider must put the user in a group that jwt.roles maps to a role"));
  if (auto added = addAttributes(payload, config, principal); !added)
    return std::unexpected(added.error());
  return principal;
}

}  // namespace

std::string tokenTime(std::int64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(seconds);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n ? std::string(text, n) : std::to_string(seconds);
}

std::expected<TokenIdentity, TokenRefusal> authenticateToken(std::string_view token,
                                                             const JwtConfig& config,
                                                             const Policy& policy,
                                                             std::int64_t now) {
  if (token.size() > kMaxTokenBytes)
    return std::unexpected(
        invalidToken("token is longer than " + std::to_string(kMaxTokenBytes) + " bytes"));
  auto jws = splitToken(token);
  if (!jws) return std::unexpected(jws.error());
  const auto header = decodeObject(jws->header);
  if (!header) return std::unexpected(invalidToken("token header is not base64url-encoded JSON"));
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string())
    return std::unexpected(invalidToken("token header has no algorithm (alg)"));
  const auto& alg_name = alg->get_ref<const std::string&>();
  std::optional<JwtAlgorithm> algorithm = jwtAlgorithmFromName(alg_name);
  bool allowed = false;
  for (const auto a : config.algorithms) allowed = allowed || (algorithm && a == *algorithm);
  if (!allowed)
    return std::unexpected(invalidToken("token algorithm \"" + alg_name +
                                        "\" is not allowed (the policy allows " +
                                        allowedAlgorithms(config) + ")"));
  // RFC 7515 4.1.11: extensions marked critical must be understood, and we understand none.
  if (header->contains("crit"))
    return std::unexpected(invalidToken("token header has critical extensions (crit)"));
  if (!config.keys) return std::unexpected(invalidToken("the policy has no key set"));
  auto keys = candidateKeys(*config.keys, *header, *algorithm);
  if (!keys) return std::unexpected(keys.error());
  const auto signature = base64UrlDecode(jws->signature);
  if (!signature) return std::unexpected(invalidToken("token signature is not base64url"));
  const std::string_view input = jws->signingInput(token);
  const Jwk* verified = nullptr;
  for (const Jwk* key : *keys)
    if (!verified && verifySignature(*key, *algorithm, input, *signature)) verified = key;
  if (!verified) return std::unexpected(invalidToken("token signature is invalid"));

  const auto payload = decodeObject(jws->payload);
  if (!payload) return std::unexpected(invalidToken("token payload is not base64url-encoded JSON"));
  auto expires = checkRegisteredClaims(*payload, config, now);
  if (!expires) {
    // The signature is good, so the user claim is worth auditing even when the token is not.
    TokenRefusal refusal = expires.error();
    if (const auto user = payload->find(config.user_claim);
        user != payload->end() && user->is_string())
      refusal.user = user->get<std::string>();
    return std::unexpected(std::move(refusal));
  }
  auto principal = principalOf(*payload, config, policy);
  if (!principal) return std::unexpected(principal.error());
  return TokenIdentity{std::move(*principal), verified->kid, *expires};
}

}  // namespace tenantwall::policy
