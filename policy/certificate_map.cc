// Matching verified client certificates against the policy's `certificates` entries.
#include "policy/certificate_map.h"

#include <algorithm>
#include <cctype>

namespace tenantwall::policy {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t'; }

bool equalsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Trims unescaped spaces: a trailing "\ " is part of the value.
std::string_view trim(std::string_view text) {
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back()) &&
         !(text.size() >= 2 && text[text.size() - 2] == '\\'))
    text.remove_suffix(1);
  return text;
}

bool matches(const CertificateMapping& mapping, const CertificateIdentity& certificate,
             const std::optional<std::string>& subject) {
  const auto any = [&](const std::vector<std::string>& names, bool ignore_case) {
    return std::ranges::any_of(names, [&](const std::string& name) {
      return ignore_case ? equalsIgnoringAsciiCase(name, mapping.value) : name == mapping.value;
    });
  };
  switch (mapping.field) {
    case CertificateField::kSubject:
      return subject && *subject == mapping.value;
    case CertificateField::kSanDns:
      return any(certificate.san_dns, true);
    case CertificateField::kSanEmail:
      return any(certificate.san_email, false);
    case CertificateField::kSanUri:
      return any(certificate.san_uri, false);
  }
  return false;
}

}  // namespace

std::string_view certificateFieldName(CertificateField field) {
  switch (field) {
    case CertificateField::kSubject:
      return "subject";
    case CertificateField::kSanDns:
      return "san_dns";
    case CertificateField::kSanEmail:
      return "san_email";
    case CertificateField::kSanUri:
      return "san_uri";
  }
  return "subject";
}

std::optional<std::string> normalizeSubject(std::string_view dn) {
  // Split at unescaped commas; each part is "type=value" (a '+' joining a multi-valued RDN
  // stays inside the value, as OpenSSL prints it).
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i < dn.size(); ++i) {
    if (dn[i] == '\\') {
      if (++i == dn.size()) return std::nullopt;  // a dangling escape
      continue;
    }
    if (dn[i] == ',') {
      parts.push_back(dn.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(dn.substr(start));
  std::string out;
  for (const std::string_view part : parts) {
    const auto equals = part.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string_view type = trim(part.substr(0, equals));
    const std::string_view value = trim(part.substr(equals + 1));
    if (type.empty() || value.empty()) return std::nullopt;
    for (char c : type)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return std::nullopt;
    if (!out.empty()) out.push_back(',');
    for (char c : type)
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    out.push_back('=');
    out.append(value);
  }
  return out;
}

std::expected<const CertificateMapping*, CertificateRefusal> matchCertificate(
    const std::vector<CertificateMapping>& mappings, const CertificateIdentity& certificate,
    std::string_view startup_user) {
  const std::optional<std::string> subject = normalizeSubject(certificate.subject);
  bool any_match = false;
  for (const auto& mapping : mappings) {
    if (!matches(mapping, certificate, subject)) continue;
    if (mapping.user == startup_user) return &mapping;
    any_match = true;
  }
  return std::unexpected(any_match ? CertificateRefusal::kOtherUser
                                   : CertificateRefusal::kUnmapped);
}

}  // namespace tenantwall::policy
