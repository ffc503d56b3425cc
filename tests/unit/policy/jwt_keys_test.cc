// JSON Web Key Sets and the policy's `jwt` section: strict base64url, keys refused unless they can
// be used exactly as written, load errors with file:line:column, and key rotation by reload.
#include "policy/jwt_keys.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/policy/jwt_test_support.h"

namespace tenantwall::policy {
namespace {

using namespace jwt_testing;  // NOLINT: the fixture and token builders

TEST(Base64UrlTest, StrictDecoding) {
  EXPECT_EQ(base64UrlDecode(""), std::string());
  EXPECT_EQ(base64UrlDecode("YQ"), std::string("a"));
  EXPECT_EQ(base64UrlDecode("YWI"), std::string("ab"));
  EXPECT_EQ(base64UrlDecode("YWJj"), std::string("abc"));
  EXPECT_EQ(base64UrlDecode("-_8"), std::string("\xfb\xff"));
  EXPECT_FALSE(base64UrlDecode("YQ=="));  // padding
  EXPECT_FALSE(base64UrlDecode("YR"));    // non-zero unused bits
  EXPECT_FALSE(base64UrlDecode("Y"));     // impossible length
  EXPECT_FALSE(base64UrlDecode("+/8"));   // standard alphabet
  EXPECT_FALSE(base64UrlDecode("YW J"));
  for (const std::string& s :
       {std::string(), std::string("a"), std::string("abcd"), std::string("\x00\xff\x10", 3)})
    EXPECT_EQ(base64UrlDecode(base64UrlEncode(s)), s);
}

class JwksTest : public JwtTest {
 protected:
  static std::string keySetError(const std::string& keys) {
    auto set = parseJwkSet(R"({"keys":[)" + keys + "]}");
    return set ? "parsed" : set.error();
  }
};

TEST_F(JwksTest, RefusesKeysItCannotUseExactly) {
  EXPECT_EQ(keySetError(rsaJwk(rsa_.get(), "r", R"(,"d":"AQAB")")),
            "key 1 (kid \"r\"): holds private key material ('d'); a key set must hold public keys "
            "only");
  EXPECT_EQ(keySetError(ecJwk(ec_.get(), "e", R"(,"d":"AQAB")")),
            "key 1 (kid \"e\"): holds private key material ('d'); a key set must hold public keys "
            "only");
  const Pkey small = generate("RSA", nullptr, 1024);
  EXPECT_EQ(keySetError(rsaJwk(small.get(), "small")),
            "key 1 (kid \"small\"): the RSA modulus has 1024 bits; at least 2048 are required");
  EXPECT_EQ(keySetError(octJwk("short", "h")),
            "key 1 (kid \"h\"): the HMAC secret 'k' has 5 bytes; at least 32 are required");
  EXPECT_EQ(keySetError(R"({"kty":"OKP","crv":"Ed25519","x":"AAAA"})"),
            "key 1: kty \"OKP\" is not supported (RSA, EC, oct)");
  EXPECT_EQ(keySetError(R"({"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"})"),
            "key 1: only the curve P-256 is supported (crv: \"P-256\")");
  EXPECT_EQ(keySetError(rsaJwk(rsa_.get(), "same") + "," + rsaJwk(other_rsa_.get(), "same")),
            "key 2: duplicate kid \"same\"");
  EXPECT_EQ(keySetError(R"({"kty":"RSA","n":"AQAB"})"), "key 1: needs 'e' as a base64url string");
  EXPECT_EQ(keySetError("7"), "key 1: is not a JSON object");
  EXPECT_EQ(parseJwkSet("{").error(), "the key set is not valid JSON");
  EXPECT_EQ(parseJwkSet(R"({"keys":{}})").error(),
            "the key set must be a JSON object with a \"keys\" array");
  EXPECT_EQ(parseJwkSet(R"({"keys":[]})").error(), "the key set holds no signing keys");
}

TEST_F(JwksTest, PointOffTheCurveIsRefused) {
  std::string x = bnBytes(ec_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32);
  std::string y = bnBytes(ec_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  y[31] ^= 0x01;
  const std::string jwk = R"({"kty":"EC","crv":"P-256","kid":"bad","x":")" + base64UrlEncode(x) +
                          R"(","y":")" + base64UrlEncode(y) + "\"}";
  const std::string error = keySetError(jwk);
  EXPECT_TRUE(error.starts_with("key 1 (kid \"bad\"): ")) << error;
  EXPECT_NE(error, "parsed");
}

TEST_F(JwksTest, ShortEcCoordinatesArePadded) {
  // Some libraries drop a coordinate's leading zero byte; the point is the same.
  Pkey key;
  std::string x;
  for (int i = 0; i < 20000 && (x.empty() || x[0] != '\0'); ++i) {
    key = generate("EC", "P-256");
    x = bnBytes(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32);
  }
  ASSERT_EQ(x[0], '\0');
  const std::string jwk = R"({"kty":"EC","crv":"P-256","kid":"ec-1","x":")" +
                          base64UrlEncode(x.substr(1)) + R"(","y":")" +
                          base64UrlEncode(bnBytes(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"}";
  policy_ = load(jwtSection(), R"({"keys":[)" + jwk + "]}");
  const std::string header = R"({"alg":"ES256","kid":"ec-1"})";
  const std::string input = signingInput(header, claims());
  EXPECT_EQ(refusal(input + "." + base64UrlEncode(derToJose(digestSign(key.get(), input)))),
            "accepted");
  EXPECT_EQ(refusal(es256(claims())), "28P01: token signature is invalid");
}

TEST_F(JwksTest, ReferencePolicyExampleLoadsWhenUncommented) {
  // conf/policy.yaml teaches the jwt section in comments; uncommented, it must load.
  std::ifstream in(std::string(TENANTWALL_TEST_DATA) + "/../../../conf/policy.yaml");
  std::string text, line;
  bool found = false, in_example = false;
  while (std::getline(in, line)) {
    if (line == "# jwt:") found = in_example = true;
    if (in_example && !line.starts_with("# ")) in_example = false;  // the example's end
    if (in_example) line = line.substr(2);
    text += line + "\n";
  }
  ASSERT_TRUE(found) << "no '# jwt:' example in conf/policy.yaml";
  std::ofstream(dir_ / "jwks.json") << defaultJwks();
  const auto policy = loadPolicyText(text, (dir_ / "policy.yaml").string());
  ASSERT_TRUE(policy->jwt);
  EXPECT_EQ(policy->jwt->startup_user, "jwt");
  EXPECT_EQ(policy->jwt->algorithms, (std::vector{JwtAlgorithm::kRs256, JwtAlgorithm::kEs256}));
  EXPECT_EQ(policy->jwt->attribute_claims.at("regions"), "allowed_regions");
  EXPECT_EQ(policy->jwt->roles.front().role, "analyst");
  EXPECT_EQ(policy->users.size(), 3u);
}

TEST_F(JwksTest, EncryptionKeysAreSkipped) {
  auto set = parseJwkSet(R"({"keys":[)" + rsaJwk(other_rsa_.get(), "enc-1") + "," +
                         R"({"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}]})");
  ASSERT_TRUE(set) << set.error();
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "enc-1");
}

TEST_F(JwksTest, PolicyLoadErrorsNameFileLineAndColumn) {
  std::string e = loadError(jwtSection(), R"({"keys":[{"kty":"oct","kid":"h","k":"c2hvcnQ"}]})");
  EXPECT_EQ(e.rfind((dir_ / "policy.yaml").string() + ":3:14: jwt.jwks_file '" +
                        (dir_ / "jwks.json").string() + "': key 1 (kid \"h\"): the HMAC secret",
                    0),
            0u)
      << e;
  std::string section = jwtSection();
  section.replace(section.find("jwks.json"), 9, "missing.json");
  e = loadError(section);
  EXPECT_NE(e.find(":3:14: jwt.jwks_file: cannot open '" + (dir_ / "missing.json").string() + "'"),
            std::string::npos)
      << e;
  e = loadError(jwtSection() + "  default_role: admin\n");
  EXPECT_NE(e.find(":16:3: unknown key 'default_role' in jwt"), std::string::npos) << e;
  section = jwtSection();
  section.replace(section.find("    - {group: admins"), std::string::npos, "");
  e = loadError(section + "    - {group: analysts, role: admin}\n");
  EXPECT_NE(e.find(":15:7: duplicate group 'analysts'"), std::string::npos) << e;
  section = jwtSection();
  section.replace(section.find("    tenant: org_id\n"), 19, "");
  e = loadError(section);
  EXPECT_NE(e.find("jwt.claims needs 'tenant'"), std::string::npos) << e;
  section = jwtSection();
  section.replace(section.find("leeway_seconds: 30"), 18, "leeway_seconds: 3600");
  e = loadError(section);
  EXPECT_NE(e.find(":7:19: jwt.leeway_seconds must be 0 to 300"), std::string::npos) << e;
}

TEST_F(JwksTest, StartupUserMustNotBeAStaticUser) {
  const std::string verifier =
      "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
      "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";
  const std::string users =
      "users:\n  - {name: jwt, tenant: acme, role: viewer, scram: \"" + verifier + "\"}\n";
  const std::string e = loadError(users + jwtSection());
  EXPECT_NE(e.find("jwt.startup_user 'jwt' is also a static user"), std::string::npos) << e;
  auto policy = load(users + jwtSection() + "  startup_user: token\n");
  EXPECT_EQ(policy->jwt->startup_user, "token");
}

TEST_F(JwksTest, RotationIsAReloadOfTheKeySet) {
  // The same policy loaded twice with different key sets: a token signed with the key removed
  // by the rotation is refused by the new snapshot and still verifies with the old one.
  const auto before = load(jwtSection());
  const auto after = load(jwtSection(), R"({"keys":[)" + rsaJwk(other_rsa_.get(), "rsa-2") + "]}");
  const std::string old_token = rs256(claims());
  const std::string new_token = rs256(claims(), "rsa-2", other_rsa_.get());
  EXPECT_TRUE(authenticateToken(old_token, *before->jwt, *before, kNow));
  auto refused = authenticateToken(old_token, *after->jwt, *after, kNow);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.message, "token key id \"rsa-1\" is not in the policy's key set");
  EXPECT_TRUE(authenticateToken(new_token, *after->jwt, *after, kNow));
  EXPECT_FALSE(authenticateToken(new_token, *before->jwt, *before, kNow));
}

}  // namespace
}  // namespace tenantwall::policy
