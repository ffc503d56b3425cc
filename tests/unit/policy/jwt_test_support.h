// Test support for the bearer-token tests: keys made by OpenSSL at test time (RSA 2048, EC P-256,
// HMAC), JWKs and tokens built from them, and a fixture with a policy whose `jwt` section reads
// its key set from a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "policy/jwt.h"
#include "policy/jwt_keys.h"
#include "policy/loader.h"

namespace tenantwall::policy::jwt_testing {

namespace fs = std::filesystem;

inline constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z
inline const std::string kHmacSecret = "0123456789abcdef0123456789abcdef-hs256";

using Pkey = std::shared_ptr<EVP_PKEY>;

inline Pkey generate(const char* type, const char* curve_or_null, std::size_t bits = 0) {
  EVP_PKEY* key = curve_or_null ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve_or_null)
                                : EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits);
  return Pkey(key, EVP_PKEY_free);
}

inline std::string bnBytes(EVP_PKEY* key, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &bn), 1) << param;
  std::string out(pad ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)),
                  '\0');
  auto* to = reinterpret_cast<unsigned char*>(out.data());
  if (pad)
    BN_bn2binpad(bn, to, pad);
  else
    BN_bn2bin(bn, to);
  BN_free(bn);
  return out;
}

inline std::string rsaJwk(EVP_PKEY* key, const std::string& kid, const std::string& extra = "") {
  return R"({"kty":"RSA","kid":")" + kid + R"(","use":"sig","n":")" +
         base64UrlEncode(bnBytes(key, OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
         base64UrlEncode(bnBytes(key, OSSL_PKEY_PARAM_RSA_E)) + "\"" + extra + "}";
}

inline std::string ecJwk(EVP_PKEY* key, const std::string& kid, const std::string& extra = "") {
  return R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"(","x":")" +
         base64UrlEncode(bnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
         base64UrlEncode(bnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"" + extra + "}";
}

inline std::string octJwk(const std::string& secret, const std::string& kid) {
  return R"({"kty":"oct","kid":")" + kid + R"(","k":")" + base64UrlEncode(secret) + "\"}";
}

inline std::string digestSign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()), 1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                           data, input.size()),
            1);
  signature.resize(length);
  return signature;
}

// DER ECDSA signature to the JOSE form r || s.
inline std::string derToJose(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return out;
}

inline std::string hmac(std::string_view secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

inline std::string publicKeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

inline std::string claims(const std::string& more = "") {
  return R"({"iss":"https://idp.example.com/","aud":"tenantwall","sub":"dana@acme",)"
         R"("org_id":"acme","groups":["analysts"],"exp":)" +
         std::to_string(kNow + 600) + R"(,"nbf":)" + std::to_string(kNow - 60) + more + "}";
}

// Claims with one member replaced or removed (value empty).
inline std::string claimsWith(const std::string& name, const std::string& value) {
  std::string text = claims();
  const std::string key = "\"" + name + "\":";
  const auto at = text.find(key);
  if (at == std::string::npos) return text.substr(0, text.size() - 1) + "," + key + value + "}";
  auto end = at + key.size();
  int depth = 0;
  bool in_string = false;
  for (; end < text.size(); ++end) {
    const char c = text[end];
    if (c == '"') in_string = !in_string;
    if (in_string) continue;
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') {
      if (depth == 0) break;
      --depth;
    }
    if (c == ',' && depth == 0) break;
  }
  if (!value.empty()) return text.substr(0, at) + key + value + text.substr(end);
  if (text[end] == ',') ++end;
  std::string out = text.substr(0, at) + text.substr(end);
  if (out[out.size() - 2] == ',') out.erase(out.size() - 2, 1);
  return out;
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = generate("RSA", nullptr, 2048);
    ec_ = generate("EC", "P-256");
    other_rsa_ = generate("RSA", nullptr, 2048);
    dir_ = fs::temp_directory_path() / ("tenantwall-jwt-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    rsa_.reset();
    ec_.reset();
    other_rsa_.reset();
  }

  static std::string defaultJwks() {
    return R"({"keys":[)" + rsaJwk(rsa_.get(), "rsa-1") + "," + ecJwk(ec_.get(), "ec-1") + "," +
           octJwk(kHmacSecret, "hs-1") + "]}";
  }

  static std::string jwtSection(const std::string& algorithms = "[RS256, ES256, HS256]") {
    return "jwt:\n"
           "  jwks_file: jwks.json\n"
           "  issuer: https://idp.example.com/\n"
           "  audience: tenantwall\n"
           "  algorithms: " +
           algorithms +
           "\n"
           "  leeway_seconds: 30\n"
           "  claims:\n"
           "    tenant: org_id\n"
           "    user: sub\n"
           "    groups: groups\n"
           "    attributes: {region: region, regions: regions, level: level, vip: vip}\n"
           "  roles:\n"
           "    - {group: analysts, role: viewer}\n"
           "    - {group: admins, role: admin}\n";
  }

  static std::shared_ptr<const Policy> load(const std::string& jwt_yaml,
                                            const std::string& jwks = defaultJwks()) {
    std::ofstream(dir_ / "jwks.json") << jwks;
    const std::string yaml = "tenants: [{id: acme}, {id: globex}]\n" + jwt_yaml;
    return loadPolicyText(yaml, (dir_ / "policy.yaml").string());
  }

  static std::string loadError(const std::string& jwt_yaml,
                               const std::string& jwks = defaultJwks()) {
    try {
      load(jwt_yaml, jwks);
    } catch (const PolicyLoadError& e) {
      return e.what();
    }
    return "loaded without error";
  }

  void SetUp() override { policy_ = load(jwtSection()); }

  static std::string token(const std::string& header, const std::string& payload,
                           const std::string& signature_bytes) {
    return base64UrlEncode(header) + "." + base64UrlEncode(payload) + "." +
           base64UrlEncode(signature_bytes);
  }

  static std::string signingInput(const std::string& header, const std::string& payload) {
    return base64UrlEncode(header) + "." + base64UrlEncode(payload);
  }

  static std::string rs256(const std::string& payload, const std::string& kid = "rsa-1",
                           EVP_PKEY* key = nullptr) {
    const std::string header = R"({"alg":"RS256","typ":"JWT","kid":")" + kid + "\"}";
    return signingInput(header, payload) + "." +
           base64UrlEncode(digestSign(key ? key : rsa_.get(), signingInput(header, payload)));
  }

  static std::string es256(const std::string& payload) {
    const std::string header = R"({"alg":"ES256","kid":"ec-1"})";
    return signingInput(header, payload) + "." +
           base64UrlEncode(derToJose(digestSign(ec_.get(), signingInput(header, payload))));
  }

  static std::string hs256(const std::string& payload, const std::string& secret = kHmacSecret,
                           const std::string& header = R"({"alg":"HS256","kid":"hs-1"})") {
    return signingInput(header, payload) + "." +
           base64UrlEncode(hmac(secret, signingInput(header, payload)));
  }

  std::expected<TokenIdentity, TokenRefusal> check(const std::string& token,
                                                   std::int64_t now = kNow) const {
    return authenticateToken(token, *policy_->jwt, *policy_, now);
  }

  // The refusal's "SQLSTATE: message", or "accepted".
  std::string refusal(const std::string& token, std::int64_t now = kNow) const {
    auto result = check(token, now);
    if (result) return "accepted";
    EXPECT_EQ(result.error().error.severity, "FATAL");
    return result.error().error.sqlstate + ": " + result.error().error.message;
  }

  inline static Pkey rsa_, ec_, other_rsa_;
  inline static fs::path dir_;
  std::shared_ptr<const Policy> policy_;
};

}  // namespace tenantwall::policy::jwt_testing
