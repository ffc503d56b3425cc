// Client certificates as a source of principals: which policy user a verified client certificate
// may log in as (the policy's `certificates` section). Pure: the proxy reads the certificate.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenantwall::policy {

// What the proxy read from a client certificate that verified against tls.ca_file.
struct CertificateIdentity {
  std::string subject;  // RFC 2253, most specific first: "CN=alice,O=Acme,C=US"
  std::vector<std::string> san_dns;
  std::vector<std::string> san_email;
  std::vector<std::string> san_uri;
};

enum class CertificateField { kSubject, kSanDns, kSanEmail, kSanUri };

// "subject", "san_dns", "san_email", "san_uri": the policy's key for the field.
std::string_view certificateFieldName(CertificateField field);

// One `certificates` entry: a certificate whose `field` equals `value` may log in as `user`.
// Several entries may name one certificate (it may then log in as each of their users).
struct CertificateMapping {
  CertificateField field = CertificateField::kSubject;
  std::string value;  // subjects are stored normalised (normalizeSubject)
  std::string user;
};

// A distinguished name in RFC 2253 form ("CN=alice, o=Acme") with the spaces around `,` and `=`
// removed and attribute types upper-cased ("CN=alice,O=Acme"); escapes are kept as written.
// nullopt when it is not such a name (for example OpenSSL's "/O=Acme/CN=alice" form).
std::optional<std::string> normalizeSubject(std::string_view dn);

enum class CertificateRefusal {
  kUnmapped,   // no entry matches the certificate
  kOtherUser,  // entries match, but none names the user the client asked for
};

// The entry that lets the certificate log in as startup_user. Subjects compare after
// normalisation, DNS names without regard to ASCII case, e-mail addresses and URIs exactly.
std::expected<const CertificateMapping*, CertificateRefusal> matchCertificate(
    const std::vector<CertificateMapping>& mappings, const CertificateIdentity& certificate,
    std::string_view startup_user);

}  // namespace tenantwall::policy
