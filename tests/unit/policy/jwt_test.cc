// Bearer tokens: valid tokens of each algorithm, forgeries, alg=none and alg confusion, the
// registered claims, and the mapping of claims to a principal; every refusal checked by SQLSTATE
// and message.
#include "policy/jwt.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/policy/jwt_test_support.h"

namespace tenantwall::policy {
namespace {

using namespace jwt_testing;  // NOLINT: the fixture and token builders

TEST_F(JwtTest, PolicySectionLoads) {
  const JwtConfig& jwt = *policy_->jwt;
  EXPECT_EQ(jwt.startup_user, "jwt");
  EXPECT_EQ(jwt.jwks_file, (dir_ / "jwks.json").string());
  EXPECT_EQ(jwt.issuer, "https://idp.example.com/");
  EXPECT_EQ(jwt.audiences, std::vector<std::string>{"tenantwall"});
  EXPECT_EQ(jwt.algorithms,
            (std::vector{JwtAlgorithm::kRs256, JwtAlgorithm::kEs256, JwtAlgorithm::kHs256}));
  EXPECT_EQ(jwt.leeway_seconds, 30);
  EXPECT_EQ(jwt.tenant_claim, "org_id");
  EXPECT_EQ(jwt.attribute_claims.at("regions"), "regions");
  ASSERT_EQ(jwt.roles.size(), 2u);
  EXPECT_EQ(jwt.roles[1].group, "admins");
  ASSERT_EQ(jwt.keys->keys.size(), 3u);
  EXPECT_EQ(jwt.keys->keys[0].type, JwkType::kRsa);
  EXPECT_EQ(jwt.keys->keys[1].type, JwkType::kEc);
  EXPECT_EQ(jwt.keys->keys[2].secret, kHmacSecret);
}

TEST_F(JwtTest, ValidRs256Token) {
  auto identity = check(rs256(claims()));
  ASSERT_TRUE(identity) << identity.error().error.message;
  EXPECT_EQ(identity->principal.tenant, "acme");
  EXPECT_EQ(identity->principal.user, "dana@acme");
  EXPECT_EQ(identity->principal.role, "viewer");
  EXPECT_EQ(identity->principal.groups, std::vector<std::string>{"analysts"});
  EXPECT_TRUE(identity->principal.attributes.empty());
  EXPECT_EQ(identity->kid, "rsa-1");
  EXPECT_EQ(identity->expires_at, kNow + 600);
}

TEST_F(JwtTest, ValidEs256Token) {
  auto identity = check(es256(claimsWith("org_id", "\"globex\"")));
  ASSERT_TRUE(identity) << identity.error().error.message;
  EXPECT_EQ(identity->principal.tenant, "globex");
  EXPECT_EQ(identity->kid, "ec-1");
}

TEST_F(JwtTest, ValidHs256Token) {
  auto identity = check(hs256(claims()));
  ASSERT_TRUE(identity) << identity.error().error.message;
  EXPECT_EQ(identity->principal.user, "dana@acme");
  EXPECT_EQ(identity->kid, "hs-1");
}

TEST_F(JwtTest, TokenWithoutKidIsCheckedAgainstEveryKeyOfItsType) {
  const std::string header = R"({"alg":"RS256"})";
  const std::string input = signingInput(header, claims());
  EXPECT_EQ(refusal(input + "." + base64UrlEncode(digestSign(rsa_.get(), input))), "accepted");
  EXPECT_EQ(refusal(input + "." + base64UrlEncode(digestSign(other_rsa_.get(), input))),
            "28P01: token signature is invalid");
}

TEST_F(JwtTest, TamperedPayloadIsRefused) {
  const std::string good = rs256(claims());
  const auto first = good.find('.'), second = good.find('.', first + 1);
  const std::string forged = good.substr(0, first + 1) +
                             base64UrlEncode(claimsWith("org_id", "\"globex\"")) +
                             good.substr(second);
  EXPECT_EQ(refusal(forged), "28P01: token signature is invalid");
  const std::string es = es256(claims());
  const auto es_first = es.find('.'), es_second = es.find('.', es_first + 1);
  EXPECT_EQ(refusal(es.substr(0, es_first + 1) +
                    base64UrlEncode(claimsWith("groups", R"(["admins"])")) + es.substr(es_second)),
            "28P01: token signature is invalid");
}

TEST_F(JwtTest, TamperedSignatureIsRefused) {
  for (const std::string& good : {rs256(claims()), es256(claims()), hs256(claims())}) {
    const auto dot = good.rfind('.');
    auto signature = *base64UrlDecode(good.substr(dot + 1));
    signature[signature.size() / 2] ^= 0x01;
    EXPECT_EQ(refusal(good.substr(0, dot + 1) + base64UrlEncode(signature)),
              "28P01: token signature is invalid")
        << good.substr(0, 20);
    EXPECT_EQ(refusal(good.substr(0, dot + 1)), "28P01: token signature is invalid");
  }
  // An ES256 signature of the wrong length, and one in DER form, never verify.
  const std::string header = R"({"alg":"ES256","kid":"ec-1"})";
  const std::string input = signingInput(header, claims());
  EXPECT_EQ(refusal(input + "." + base64UrlEncode(digestSign(ec_.get(), input))),
            "28P01: token signature is invalid");
}

TEST_F(JwtTest, HmacSecretMustMatch) {
  EXPECT_EQ(refusal(hs256(claims(), "another-secret-another-secret-another")),
            "28P01: token signature is invalid");
}

TEST_F(JwtTest, AlgNoneIsRefused) {
  for (const char* alg : {"none", "None", "NONE"}) {
    const std::string header = std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})";
    EXPECT_EQ(refusal(signingInput(header, claims()) + "."),
              std::string("28P01: token algorithm \"") + alg +
                  "\" is not allowed (the policy allows RS256, ES256, HS256)");
  }
  EXPECT_NE(loadError(jwtSection("[RS256, none]")).find("algorithm 'none' is not supported"),
            std::string::npos)
      << loadError(jwtSection("[RS256, none]"));
}

TEST_F(JwtTest, AlgorithmNotAllowedByPolicyIsRefused) {
  policy_ = load(jwtSection("[RS256]"));
  EXPECT_EQ(refusal(rs256(claims())), "accepted");
  EXPECT_EQ(refusal(es256(claims())),
            "28P01: token algorithm \"ES256\" is not allowed (the policy allows RS256)");
  EXPECT_EQ(refusal(hs256(claims())),
            "28P01: token algorithm \"HS256\" is not allowed (the policy allows RS256)");
  const std::string header = R"({"alg":"RS512","kid":"rsa-1"})";
  EXPECT_EQ(refusal(signingInput(header, claims()) + ".AAAA"),
            "28P01: token algorithm \"RS512\" is not allowed (the policy allows RS256)");
}

TEST_F(JwtTest, AlgConfusionHs256WithRsaPublicKeyIsRefused) {
  // The classic attack: HMAC keyed with the RSA public key's bytes, which an attacker knows.
  const std::string pem = publicKeyPem(rsa_.get());
  EXPECT_EQ(
      refusal(hs256(claims(), pem, R"({"alg":"HS256","kid":"rsa-1"})")),
      "28P01: token key id \"rsa-1\" names a key of type RSA, which cannot verify HS256 tokens");
  EXPECT_EQ(refusal(hs256(claims(), pem, R"({"alg":"HS256"})")),
            "28P01: token signature is invalid");
  const std::string n = bnBytes(rsa_.get(), OSSL_PKEY_PARAM_RSA_N);
  EXPECT_EQ(refusal(hs256(claims(), n, R"({"alg":"HS256"})")), "28P01: token signature is invalid");
  // And the other way round: an RS256 header naming the HMAC key.
  EXPECT_EQ(
      refusal(rs256(claims(), "hs-1")),
      "28P01: token key id \"hs-1\" names a key of type oct, which cannot verify RS256 tokens");
}

TEST_F(JwtTest, KeyAlgMemberMustAgree) {
  const std::string jwks = R"({"keys":[)" + rsaJwk(rsa_.get(), "rsa-1", R"(,"alg":"RS256")") + "," +
                           octJwk(kHmacSecret, "hs-1") + "]}";
  policy_ = load(jwtSection(), jwks);
  EXPECT_EQ(refusal(rs256(claims())), "accepted");
  EXPECT_NE(
      loadError(jwtSection(), R"({"keys":[)" + rsaJwk(rsa_.get(), "r", R"(,"alg":"ES256")") + "]}")
          .find("key 1 (kid \"r\"): 'alg' ES256 does not match kty RSA"),
      std::string::npos);
}

TEST_F(JwtTest, ExpiredTokenIsRefused) {
  const std::string token = rs256(claimsWith("exp", std::to_string(kNow - 31)));
  auto result = check(token);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.sqlstate, "28P01");
  EXPECT_EQ(result.error().error.message, "token expired at 2027-01-15T07:59:29Z");
  EXPECT_EQ(result.error().user, "dana@acme");  // known once the signature is good
  // Within the leeway it still passes, and exactly at exp + leeway it does not.
  EXPECT_EQ(refusal(rs256(claimsWith("exp", std::to_string(kNow - 29)))), "accepted");
  EXPECT_EQ(refusal(rs256(claimsWith("exp", std::to_string(kNow - 30)))),
            "28P01: token expired at 2027-01-15T07:59:30Z");
  EXPECT_EQ(refusal(rs256(claimsWith("exp", "1800000600.9"))), "accepted");
}

TEST_F(JwtTest, TokenWithoutExpiryIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("exp", ""))), "28P01: token has no expiry time (exp)");
  EXPECT_EQ(refusal(rs256(claimsWith("exp", "\"tomorrow\""))),
            "28P01: token has no expiry time (exp)");
}

TEST_F(JwtTest, NotBeforeInTheFutureIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("nbf", std::to_string(kNow + 120)))),
            "28P01: token is not valid before 2027-01-15T08:02:00Z");
  EXPECT_EQ(refusal(rs256(claimsWith("nbf", std::to_string(kNow + 20)))), "accepted");
  EXPECT_EQ(refusal(rs256(claimsWith("nbf", ""))), "accepted");  // nbf is optional
}

TEST_F(JwtTest, WrongIssuerIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("iss", "\"https://evil.example.com/\""))),
            "28P01: token issuer \"https://evil.example.com/\" is not the policy's issuer "
            "\"https://idp.example.com/\"");
  EXPECT_EQ(refusal(rs256(claimsWith("iss", "\"https://idp.example.com\""))),
            "28P01: token issuer \"https://idp.example.com\" is not the policy's issuer "
            "\"https://idp.example.com/\"");
  EXPECT_EQ(refusal(rs256(claimsWith("iss", ""))), "28P01: token has no issuer (iss)");
}

TEST_F(JwtTest, WrongAudienceIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("aud", "\"billing\""))),
            "28P01: token audience (billing) does not include \"tenantwall\"");
  EXPECT_EQ(refusal(rs256(claimsWith("aud", ""))), "28P01: token has no audience (aud)");
  EXPECT_EQ(refusal(rs256(claimsWith("aud", R"(["billing","crm"])"))),
            "28P01: token audience (billing, crm) does not include \"tenantwall\"");
}

TEST_F(JwtTest, AudienceArrayContainingOursIsAccepted) {
  EXPECT_EQ(refusal(rs256(claimsWith("aud", R"(["billing","tenantwall"])"))), "accepted");
}

TEST_F(JwtTest, UnknownKidIsRefused) {
  auto result = check(rs256(claims(), "rotated-away"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.sqlstate, "28P01");
  EXPECT_EQ(result.error().error.message,
            "token key id \"rotated-away\" is not in the policy's key set");
  EXPECT_NE(result.error().error.hint.find("reload"), std::string::npos);
  EXPECT_TRUE(result.error().user.empty());  // nothing from an unverified payload
}

TEST_F(JwtTest, MissingTenantClaimIsRefused) {
  auto result = check(rs256(claimsWith("org_id", "")));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().error.sqlstate, "28000");
  EXPECT_EQ(result.error().error.message, "token has no \"org_id\" claim naming the tenant");
  EXPECT_EQ(result.error().user, "dana@acme");
  EXPECT_EQ(refusal(rs256(claimsWith("org_id", "42"))),
            "28000: token has no \"org_id\" claim naming the tenant");
}

TEST_F(JwtTest, TenantNotInPolicyIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("org_id", "\"initech\""))),
            "28000: token tenant \"initech\" is not a tenant of this policy");
}

TEST_F(JwtTest, MissingUserClaimIsRefused) {
  EXPECT_EQ(refusal(rs256(claimsWith("sub", ""))),
            "28000: token has no \"sub\" claim naming the user");
  EXPECT_EQ(refusal(rs256(claimsWith("sub", R"("a\u0000b")"))),
            "28000: token user name contains control characters");
}

TEST_F(JwtTest, GroupToRoleMappingTakesFirstMatchingRule) {
  // jwt.roles lists analysts before admins: the rule order decides, not the token's order.
  auto both = check(rs256(claimsWith("groups", R"(["admins","analysts"])")));
  ASSERT_TRUE(both) << both.error().error.message;
  EXPECT_EQ(both->principal.role, "viewer");
  EXPECT_EQ(both->principal.groups, (std::vector<std::string>{"admins", "analysts"}));
  auto admin = check(rs256(claimsWith("groups", R"(["staff","admins"])")));
  ASSERT_TRUE(admin) << admin.error().error.message;
  EXPECT_EQ(admin->principal.role, "admin");
  auto single = check(rs256(claimsWith("groups", R"("admins")")));
  ASSERT_TRUE(single) << single.error().error.message;
  EXPECT_EQ(single->principal.role, "admin");
}

TEST_F(JwtTest, NoMatchingGroupIsRefusedNeverDefaulted) {
  EXPECT_EQ(refusal(rs256(claimsWith("groups", R"(["staff","Admins"])"))),
            "28000: token groups (staff, Admins) match no role in the policy's jwt.roles");
  EXPECT_EQ(refusal(rs256(claimsWith("groups", ""))),
            "28000: token carries no groups, so no role of the policy's jwt.roles applies");
  EXPECT_EQ(refusal(rs256(claimsWith("groups", "[]"))),
            "28000: token carries no groups, so no role of the policy's jwt.roles applies");
  EXPECT_EQ(refusal(rs256(claimsWith("groups", R"({"admins":true})"))),
            "28000: token claim \"groups\" must be a list of group names");
  EXPECT_EQ(refusal(rs256(claimsWith("groups", R"(["admins",7])"))),
            "28000: token claim \"groups\" must be a list of group names");
}

TEST_F(JwtTest, AttributesKeepTheirShape) {
  auto identity =
      check(rs256(claims(R"(,"region":"eu","regions":["eu","us"],"level":3,"vip":true)")));
  ASSERT_TRUE(identity) << identity.error().error.message;
  const auto& a = identity->principal.attributes;
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a.at("region"), (Attribute{{"eu"}, false}));
  EXPECT_EQ(a.at("regions"), (Attribute{{"eu", "us"}, true}));
  EXPECT_EQ(a.at("level"), (Attribute{{"3"}, false}));
  EXPECT_EQ(a.at("vip"), (Attribute{{"true"}, false}));
  // An empty list stays a list; absent and null claims give no attribute.
  auto empty = check(rs256(claims(R"(,"regions":[],"region":null)")));
  ASSERT_TRUE(empty) << empty.error().error.message;
  EXPECT_EQ(empty->principal.attributes.size(), 1u);
  EXPECT_EQ(empty->principal.attributes.at("regions"), (Attribute{{}, true}));
}

TEST_F(JwtTest, AttributeOfUnusableShapeIsRefused) {
  EXPECT_EQ(refusal(rs256(claims(R"(,"region":{"name":"eu"})"))),
            "28000: token claim \"region\" must be a string, integer, boolean or a list of them");
  EXPECT_EQ(refusal(rs256(claims(R"(,"regions":[["eu"]])"))),
            "28000: token claim \"regions\" must be a string, integer, boolean or a list of them");
  EXPECT_EQ(refusal(rs256(claims(R"(,"level":1.5)"))),
            "28000: token claim \"level\" must be a string, integer, boolean or a list of them");
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  EXPECT_EQ(refusal("alice-secret"),
            "28P01: the password is not a token (header.payload.signature)");
  EXPECT_EQ(refusal("a.b"), "28P01: the password is not a token (header.payload.signature)");
  EXPECT_EQ(refusal("a.b.c.d.e"), "28P01: encrypted tokens (JWE) are not supported");
  EXPECT_EQ(refusal("!!!.e30.AAAA"), "28P01: token header is not base64url-encoded JSON");
  EXPECT_EQ(refusal(base64UrlEncode("[1]") + ".e30.AAAA"),
            "28P01: token header is not base64url-encoded JSON");
  EXPECT_EQ(refusal(base64UrlEncode(R"({"alg":"RS256"}x)") + ".e30.AAAA"),
            "28P01: token header is not base64url-encoded JSON");
  EXPECT_EQ(refusal(base64UrlEncode(R"({"typ":"JWT"})") + ".e30.AAAA"),
            "28P01: token header has no algorithm (alg)");
  EXPECT_EQ(refusal(signingInput(R"({"alg":"RS256","kid":"rsa-1"})", claims()) + ".A=="),
            "28P01: token signature is not base64url");
  EXPECT_EQ(refusal(std::string(kMaxTokenBytes + 1, 'a')),
            "28P01: token is longer than 16384 bytes");
  // A payload that is not JSON is found only after the signature checks out.
  const std::string header = R"({"alg":"HS256","kid":"hs-1"})";
  const std::string input = base64UrlEncode(header) + "." + base64UrlEncode("not json");
  EXPECT_EQ(refusal(input + "." + base64UrlEncode(hmac(kHmacSecret, input))),
            "28P01: token payload is not base64url-encoded JSON");
}

TEST_F(JwtTest, CriticalHeaderExtensionsAreRefused) {
  EXPECT_EQ(refusal(hs256(claims(), kHmacSecret, R"({"alg":"HS256","kid":"hs-1","crit":["x"]})")),
            "28P01: token header has critical extensions (crit)");
}

}  // namespace
}  // namespace tenantwall::policy
