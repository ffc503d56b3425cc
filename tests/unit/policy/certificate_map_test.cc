// Client-certificate mapping: subject normalisation, matching by subject and SAN, refusals, and
// the policy's `certificates` section.
#include "policy/certificate_map.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/loader.h"

namespace tenantwall::policy {
namespace {

TEST(CertificateMapTest, NormalizeSubject) {
  EXPECT_EQ(normalizeSubject("CN=alice,O=Acme,C=US"), "CN=alice,O=Acme,C=US");
  EXPECT_EQ(normalizeSubject(" cn = alice , o=Acme "), "CN=alice,O=Acme");
  EXPECT_EQ(normalizeSubject("emailAddress=a@x.example,CN=a"), "EMAILADDRESS=a@x.example,CN=a");
  // Escaped commas and a trailing escaped space stay in the value.
  EXPECT_EQ(normalizeSubject("CN=Smith\\, John,O=Acme"), "CN=Smith\\, John,O=Acme");
  EXPECT_EQ(normalizeSubject("CN=x\\ ,O=y"), "CN=x\\ ,O=y");
  EXPECT_EQ(normalizeSubject("CN=a+UID=7,O=y"), "CN=a+UID=7,O=y");
  EXPECT_EQ(normalizeSubject("/O=Acme/CN=alice"), std::nullopt);  // OpenSSL's -subj form
  EXPECT_EQ(normalizeSubject("alice"), std::nullopt);
  EXPECT_EQ(normalizeSubject("CN=alice,"), std::nullopt);
  EXPECT_EQ(normalizeSubject("CN="), std::nullopt);
  EXPECT_EQ(normalizeSubject("C N=a"), std::nullopt);
  EXPECT_EQ(normalizeSubject("CN=a\\"), std::nullopt);
}

const std::vector<CertificateMapping> kMappings = {
    {CertificateField::kSubject, "CN=alice,O=Acme", "alice"},
    {CertificateField::kSanDns, "reports.acme.example", "carol"},
    {CertificateField::kSanEmail, "Bob@globex.example", "bob"},
    {CertificateField::kSanUri, "spiffe://globex/etl", "bob"},
    {CertificateField::kSanUri, "spiffe://globex/etl", "dave"},
};

TEST(CertificateMapTest, SubjectMatchesAfterNormalisation) {
  const CertificateIdentity cert{"CN=alice, o=Acme", {}, {}, {}};
  auto match = matchCertificate(kMappings, cert, "alice");
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ((*match)->user, "alice");
  EXPECT_EQ((*match)->field, CertificateField::kSubject);
}

TEST(CertificateMapTest, SubjectMustMatchWhole) {
  // A longer subject with the same CN is another certificate.
  const CertificateIdentity cert{"CN=alice,O=Acme,C=US", {}, {}, {}};
  EXPECT_EQ(matchCertificate(kMappings, cert, "alice"),
            std::unexpected(CertificateRefusal::kUnmapped));
  const CertificateIdentity other{"CN=alice,O=Evil", {}, {}, {}};
  EXPECT_EQ(matchCertificate(kMappings, other, "alice"),
            std::unexpected(CertificateRefusal::kUnmapped));
}

TEST(CertificateMapTest, SanDnsIgnoresCaseEmailAndUriDoNot) {
  const CertificateIdentity dns{"CN=x", {"other.example", "REPORTS.acme.example"}, {}, {}};
  auto match = matchCertificate(kMappings, dns, "carol");
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ((*match)->user, "carol");

  const CertificateIdentity email{"CN=x", {}, {"bob@globex.example"}, {}};
  EXPECT_EQ(matchCertificate(kMappings, email, "bob"),
            std::unexpected(CertificateRefusal::kUnmapped));
  const CertificateIdentity exact{"CN=x", {}, {"Bob@globex.example"}, {}};
  EXPECT_TRUE(matchCertificate(kMappings, exact, "bob").has_value());

  const CertificateIdentity uri{"CN=x", {}, {}, {"SPIFFE://globex/etl"}};
  EXPECT_EQ(matchCertificate(kMappings, uri, "bob"),
            std::unexpected(CertificateRefusal::kUnmapped));
}

TEST(CertificateMapTest, OneCertificateSeveralUsers) {
  const CertificateIdentity cert{"CN=etl", {}, {}, {"spiffe://globex/etl"}};
  EXPECT_EQ((*matchCertificate(kMappings, cert, "bob"))->user, "bob");
  EXPECT_EQ((*matchCertificate(kMappings, cert, "dave"))->user, "dave");
  EXPECT_EQ(matchCertificate(kMappings, cert, "alice"),
            std::unexpected(CertificateRefusal::kOtherUser));
}

TEST(CertificateMapTest, MappedToAnotherUser) {
  const CertificateIdentity cert{"CN=alice,O=Acme", {}, {}, {}};
  EXPECT_EQ(matchCertificate(kMappings, cert, "bob"),
            std::unexpected(CertificateRefusal::kOtherUser));
}

TEST(CertificateMapTest, NothingMapsWithoutEntries) {
  const CertificateIdentity cert{"CN=alice,O=Acme", {"a.example"}, {"a@a.example"}, {"x:y"}};
  EXPECT_EQ(matchCertificate({}, cert, "alice"), std::unexpected(CertificateRefusal::kUnmapped));
}

const std::string kVerifier =
    "SCRAM-SHA-256$4096:K9gGyX8OAK8aH8Myj6djqQ==$FLJE5BoJ/U+twjfcFVvxz4GOJ7izjZTMwyVl7iyjcoU=:"
    "9ZOyGsv3Lr6EybtxWvt8RuR+rQ6YU4rq6kSKY9F4Vlg=";

const std::string kBase =
    "tenants: [{id: acme}]\nusers:\n  - {name: alice, tenant: acme, role: viewer, scram: \"" +
    kVerifier + "\"}\n  - {name: robot, tenant: acme, role: viewer}\n";

std::string loadError(const std::string& yaml) {
  try {
    loadPolicyText(yaml, "p.yaml");
  } catch (const PolicyLoadError& e) {
    return e.what();
  }
  return "loaded without error";
}

TEST(CertificateMapTest, PolicySectionLoads) {
  auto policy = loadPolicyText(kBase +
                                   "certificates:\n"
                                   "  - {subject: \"cn=alice, O=Acme\", user: alice}\n"
                                   "  - {san_dns: robot.acme.example, user: robot}\n",
                               "p.yaml");
  ASSERT_EQ(policy->certificates.size(), 2u);
  EXPECT_EQ(policy->certificates[0].field, CertificateField::kSubject);
  EXPECT_EQ(policy->certificates[0].value, "CN=alice,O=Acme");
  EXPECT_EQ(policy->certificates[1].field, CertificateField::kSanDns);
  EXPECT_EQ(policy->certificates[1].user, "robot");
  // robot has no verifier: certificate logins only.
  EXPECT_TRUE(policy->findUser("robot")->scram_verifier.empty());
}

TEST(CertificateMapTest, PolicySectionErrors) {
  const std::string unknown = loadError(kBase +
                                        "certificates:\n  - {san_dns: r.example, user: robot}\n"
                                        "  - {subject: \"CN=x\", user: nobody}\n");
  EXPECT_TRUE(unknown.starts_with("p.yaml:7:")) << unknown;
  EXPECT_NE(unknown.find("certificates entry names unknown user 'nobody'"), std::string::npos)
      << unknown;
  EXPECT_NE(loadError(kBase + "certificates:\n  - {user: alice}\n")
                .find("exactly one of subject, san_dns, san_email, san_uri"),
            std::string::npos);
  EXPECT_NE(loadError(kBase + "certificates:\n  - {subject: \"CN=a\", san_dns: a, user: alice}\n")
                .find("exactly one of"),
            std::string::npos);
  EXPECT_NE(loadError(kBase + "certificates:\n  - {subject: /CN=alice, user: alice}\n")
                .find("is not an RFC 2253 name"),
            std::string::npos);
  EXPECT_NE(loadError(kBase + "certificates:\n  - {san_uri: x, user: alice, role: viewer}\n")
                .find("unknown key 'role' in a certificates entry"),
            std::string::npos);
  EXPECT_NE(loadError(kBase + "certificates:\n  - {san_uri: x, user: alice}\n"
                              "  - {san_uri: x, user: alice}\n  - {san_uri: y, user: robot}\n")
                .find("duplicate certificates entry for user 'alice'"),
            std::string::npos);
  // A user without scram and without a certificate could never log in: a mistake.
  const std::string e = loadError(kBase);
  EXPECT_NE(e.find("user 'robot' needs 'scram'"), std::string::npos) << e;
}

}  // namespace
}  // namespace tenantwall::policy
