// JWKS parsing: JWK members to OpenSSL 3 keys through OSSL_PARAM_BLD and EVP_PKEY_fromdata, and
// the strict base64url the JOSE formats use.
#include "policy/jwt_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace tenantwall::policy {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMinRsaBits = 2048;
constexpr std::size_t kMinHmacBytes = 32;  // RFC 7518 section 3.2: at least the hash size
constexpr std::size_t kP256CoordinateBytes = 32;

constexpr std::array<std::pair<std::string_view, JwtAlgorithm>, 3> kAlgorithmNames{{
    {"RS256", JwtAlgorithm::kRs256},
    {"ES256", JwtAlgorithm::kEs256},
    {"HS256", JwtAlgorithm::kHs256},
}};

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using Bignum = std::unique_ptr<BIGNUM, BnFree>;

int base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

const std::string* stringMember(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// A required base64url member, decoded.
std::expected<std::string, std::string> bytesMember(const Json& key, const char* name) {
  const std::string* text = stringMember(key, name);
  if (!text) return std::unexpected(std::string("needs '") + name + "' as a base64url string");
  auto bytes = base64UrlDecode(*text);
  if (!bytes || bytes->empty())
    return std::unexpected(std::string("'") + name + "' is not valid base64url");
  return std::move(*bytes);
}

Bignum bignumOf(const std::string& bytes) {
  return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()), nullptr));
}

// Builds a public key of this OpenSSL type from the parameters, and checks it as OpenSSL can
// (for EC: the point is on the curve).
std::expected<std::shared_ptr<EVP_PKEY>, std::string> publicKeyFrom(const char* type,
                                                                    OSSL_PARAM_BLD* builder) {
  const std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder));
  const std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !raw)
    return std::unexpected("OpenSSL does not accept it as a public key");
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  const std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return std::unexpected("the public key fails OpenSSL's consistency check");
  return key;
}

std::expected<std::shared_ptr<EVP_PKEY>, std::string> rsaKey(const Json& jwk) {
  auto n = bytesMember(jwk, "n");
  if (!n) return std::unexpected(n.error());
  auto e = bytesMember(jwk, "e");
  if (!e) return std::unexpected(e.error());
  const Bignum bn_n = bignumOf(*n), bn_e = bignumOf(*e);
  const std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return std::unexpected("out of memory building the RSA key");
  auto key = publicKeyFrom("RSA", builder.get());
  if (!key) return key;
  if (static_cast<std::size_t>(EVP_PKEY_get_bits(key->get())) < kMinRsaBits)
    return std::unexpected("the RSA modulus has " + std::to_string(EVP_PKEY_get_bits(key->get())) +
                           " bits; at least 2048 are required");
  return key;
}

std::expected<std::shared_ptr<EVP_PKEY>, std::string> ecKey(const Json& jwk) {
  const std::string* curve = stringMember(jwk, "crv");
  if (!curve || *curve != "P-256")
    return std::unexpected("only the curve P-256 is supported (crv: \"P-256\")");
  auto x = bytesMember(jwk, "x");
  if (!x) return std::unexpected(x.error());
  auto y = bytesMember(jwk, "y");
  if (!y) return std::unexpected(y.error());
  if (x->size() > kP256CoordinateBytes || y->size() > kP256CoordinateBytes)
    return std::unexpected("P-256 coordinates 'x' and 'y' must be 32 bytes each");
  // RFC 7518 6.2.1.2 wants the full 32 bytes, but some libraries drop leading zero bytes;
  // padding gives the same point.
  const auto padded = [](const std::string& c) {
    return std::string(kP256CoordinateBytes - c.size(), '\0') + c;
  };
  const std::string point = "\x04" + padded(*x) + padded(*y);  // SEC 1 uncompressed point
  const std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    return std::unexpected("out of memory building the EC key");
  return publicKeyFrom("EC", builder.get());
}

// One member of "keys"; nullopt for a key meant for encryption, which never verifies anything.
std::expected<std::optional<Jwk>, std::string> parseJwk(const Json& item) {
  if (!item.is_object()) return std::unexpected("is not a JSON object");
  if (const auto use = item.find("use"); use != item.end()) {
    if (!use->is_string()) return std::unexpected("'use' must be a string");
    if (*use == "enc") return std::optional<Jwk>();
    if (*use != "sig") return std::unexpected("'use' must be \"sig\" or \"enc\"");
  }
  Jwk key;
  if (const auto kid = item.find("kid"); kid != item.end()) {
    if (!kid->is_string()) return std::unexpected("'kid' must be a string");
    key.kid = kid->get<std::string>();
  }
  if (const auto alg = item.find("alg"); alg != item.end()) {
    if (!alg->is_string()) return std::unexpected("'alg' must be a string");
    key.algorithm = jwtAlgorithmFromName(alg->get_ref<const std::string&>());
    if (!key.algorithm)
      return std::unexpected("'alg' \"" + alg->get<std::string>() +
                             "\" is not supported (RS256, ES256, HS256)");
  }
  const std::string* kty = stringMember(item, "kty");
  if (!kty) return std::unexpected("needs 'kty'");
  const auto refusePrivate =
      [&](std::initializer_list<const char*> members) -> std::expected<void, std::string> {
    for (const char* m : members)
      if (item.contains(m))
        return std::unexpected(std::string("holds private key material ('") + m +
                               "'); a key set must hold public keys only");
    return {};
  };
  if (*kty == "RSA") {
    key.type = JwkType::kRsa;
    if (auto ok = refusePrivate({"d", "p", "q", "dp", "dq", "qi", "oth"}); !ok)
      return std::unexpected(ok.error());
    auto pkey = rsaKey(item);
    if (!pkey) return std::unexpected(pkey.error());
    key.public_key = std::move(*pkey);
  } else if (*kty == "EC") {
    key.type = JwkType::kEc;
    if (auto ok = refusePrivate({"d"}); !ok) return std::unexpected(ok.error());
    auto pkey = ecKey(item);
    if (!pkey) return std::unexpected(pkey.error());
    key.public_key = std::move(*pkey);
  } else if (*kty == "oct") {
    key.type = JwkType::kOct;
    auto secret = bytesMember(item, "k");
    if (!secret) return std::unexpected(secret.error());
    if (secret->size() < kMinHmacBytes)
      return std::unexpected("the HMAC secret 'k' has " + std::to_string(secret->size()) +
                             " bytes; at least 32 are required");
    key.secret = std::move(*secret);
  } else {
    return std::unexpected("kty \"" + *kty + "\" is not supported (RSA, EC, oct)");
  }
  if (key.algorithm && !key.fits(*key.algorithm))
    return std::unexpected("'alg' " + std::string(jwtAlgorithmName(*key.algorithm)) +
                           " does not match kty " + *kty);
  return std::optional<Jwk>(std::move(key));
}

}  // namespace

std::optional<JwtAlgorithm> jwtAlgorithmFromName(std::string_view name) {
  for (const auto& [text, algorithm] : kAlgorithmNames)
    if (text == name) return algorithm;
  return std::nullopt;
}

std::string_view jwtAlgorithmName(JwtAlgorithm algorithm) {
  for (const auto& [text, a] : kAlgorithmNames)
    if (a == algorithm) return text;
  return "unknown";
}

std::string_view jwkTypeName(JwkType type) {
  switch (type) {
    case JwkType::kRsa:
      return "RSA";
    case JwkType::kEc:
      return "EC";
    case JwkType::kOct:
      return "oct";
  }
  return "unknown";
}

bool Jwk::fits(JwtAlgorithm wanted) const {
  if (algorithm && *algorithm != wanted) return false;
  switch (wanted) {
    case JwtAlgorithm::kRs256:
      return type == JwkType::kRsa;
    case JwtAlgorithm::kEs256:
      return type == JwkType::kEc;
    case JwtAlgorithm::kHs256:
      return type == JwkType::kOct;
  }
  return false;
}

const Jwk* JwkSet::findKid(std::string_view kid) const {
  for (const auto& key : keys)
    if (!key.kid.empty() && key.kid == kid) return &key;
  return nullptr;
}

std::expected<JwkSet, std::string> parseJwkSet(std::string_view json) {
  const Json root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return std::unexpected("the key set is not valid JSON");
  const auto keys = root.is_object() ? root.find("keys") : root.end();
  if (keys == root.end() || !keys->is_array())
    return std::unexpected("the key set must be a JSON object with a \"keys\" array");
  JwkSet set;
  std::size_t index = 0;
  for (const auto& item : *keys) {
    ++index;
    auto key = parseJwk(item);
    if (!key) {
      std::string where = "key " + std::to_string(index);
      if (const std::string* kid = item.is_object() ? stringMember(item, "kid") : nullptr)
        where += " (kid \"" + *kid + "\")";
      return std::unexpected(where + ": " + key.error());
    }
    if (!*key) continue;
    if (!(*key)->kid.empty() && set.findKid((*key)->kid))
      return std::unexpected("key " + std::to_string(index) + ": duplicate kid \"" + (*key)->kid +
                             "\"");
    set.keys.push_back(std::move(**key));
  }
  if (set.keys.empty()) return std::unexpected("the key set holds no signing keys");
  return set;
}

std::optional<std::string> base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int value = base64UrlValue(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  // The bits left over must be zero, so every byte string has exactly one encoding.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3F]);
  return out;
}

}  // namespace tenantwall::policy
