// Name heuristics and value shapes for PII auto-detection. Hand-written matchers rather than
// std::regex: values come from the database (untrusted, any length), and these run in linear
// time without recursion.
#include "policy/pii_detect.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace tenantwall::policy {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAlnum(char c) { return isDigit(c) || isAlpha(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// No email, phone, card or IBAN is longer; longer values match nothing (and cost nothing).
constexpr std::size_t kMaxValueLength = 254;

std::string_view trim(std::string_view v) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!v.empty() && blank(v.front())) v.remove_prefix(1);
  while (!v.empty() && blank(v.back())) v.remove_suffix(1);
  return v;
}

// ---- names ----------------------------------------------------------------------------------

// "customerEmail_2" -> customer, email, 2: split at non-alphanumerics, lower-to-upper case
// changes and letter/digit boundaries.
std::vector<std::string> tokens(std::string_view name) {
  std::vector<std::string> out;
  std::string current;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!isAlnum(c)) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (!current.empty()) {
      const char prev = name[i - 1];
      const bool camel = (prev >= 'a' && prev <= 'z') && (c >= 'A' && c <= 'Z');
      const bool digit_edge = isDigit(prev) != isDigit(c);
      if (camel || digit_edge) {
        out.push_back(std::move(current));
        current.clear();
      }
    }
    current.push_back(lower(c));
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

struct NamePattern {
  PiiKind kind;
  std::array<std::string_view, 3> words;  // a run of tokens; empty words are not used
};

constexpr std::array<NamePattern, 40> kNamePatterns{{
    {PiiKind::kEmail, {"email"}},
    {PiiKind::kEmail, {"emails"}},
    {PiiKind::kEmail, {"e", "mail"}},
    {PiiKind::kEmail, {"mail"}},
    {PiiKind::kEmail, {"emailaddress"}},
    {PiiKind::kEmail, {"mailaddress"}},
    {PiiKind::kEmail, {"mailto"}},
    {PiiKind::kPhone, {"phone"}},
    {PiiKind::kPhone, {"phones"}},
    {PiiKind::kPhone, {"telephone"}},
    {PiiKind::kPhone, {"tel"}},
    {PiiKind::kPhone, {"mobile"}},
    {PiiKind::kPhone, {"cellphone"}},
    {PiiKind::kPhone, {"fax"}},
    {PiiKind::kPhone, {"msisdn"}},
    {PiiKind::kPhone, {"phonenumber"}},
    {PiiKind::kPhone, {"mobilephone"}},
    {PiiKind::kSsn, {"ssn"}},
    {PiiKind::kSsn, {"social", "security"}},
    {PiiKind::kSsn, {"socialsecurity"}},
    {PiiKind::kSsn, {"socsec"}},
    {PiiKind::kCard, {"pan"}},
    {PiiKind::kCard, {"cc", "number"}},
    {PiiKind::kCard, {"cc", "num"}},
    {PiiKind::kCard, {"cc", "no"}},
    {PiiKind::kCard, {"ccnum"}},
    {PiiKind::kCard, {"ccnumber"}},
    {PiiKind::kCard, {"card", "number"}},
    {PiiKind::kCard, {"card", "num"}},
    {PiiKind::kCard, {"card", "no"}},
    {PiiKind::kCard, {"card", "nr"}},
    {PiiKind::kCard, {"cardnumber"}},
    {PiiKind::kCard, {"creditcard"}},
    {PiiKind::kCard, {"credit", "card"}},
    {PiiKind::kCard, {"debit", "card"}},
    {PiiKind::kCard, {"primary", "account", "number"}},
    {PiiKind::kIban, {"iban"}},
    {PiiKind::kIban, {"ibans"}},
    {PiiKind::kIban, {"iban", "number"}},
    {PiiKind::kIban, {"bank", "account", "iban"}},
}};

// A name with one of these words is about the PII, not the PII itself: a count, a flag, a
// status, a derived or protected form, or some other attribute of it.
constexpr std::string_view kNotPiiWords[] = {
    "count",   "cnt",     "verified",  "verify",   "valid",  "validated",  "confirmed", "enabled",
    "flag",    "is",      "has",       "type",     "kind",   "status",     "opt",       "optin",
    "optout",  "consent", "format",    "template", "domain", "provider",   "hash",      "hashed",
    "digest",  "masked",  "encrypted", "enc",      "salt",   "last",       "last4",     "prefix",
    "country", "ext",     "extension", "sent",     "at",     "date",       "id",        "subject",
    "body",    "message", "server",    "host",     "bounce", "preference", "types",     "kinds",
    "counts",  "settings"};

// Words that, in a table named for a kind ("phone_numbers", "emails"), name its value.
constexpr std::string_view kValueWords[] = {"number", "num",     "no",  "nr",
                                            "value",  "address", "addr"};

bool hasRun(const std::vector<std::string>& words, const NamePattern& pattern) {
  std::size_t length = 0;
  while (length < pattern.words.size() && !pattern.words[length].empty()) ++length;
  if (length == 0 || words.size() < length) return false;
  for (std::size_t start = 0; start + length <= words.size(); ++start) {
    bool all = true;
    for (std::size_t k = 0; k < length && all; ++k) all = words[start + k] == pattern.words[k];
    if (all) return true;
  }
  return false;
}

bool hasAny(const std::vector<std::string>& words, std::span<const std::string_view> set) {
  return std::ranges::any_of(
      words, [&](const std::string& w) { return std::ranges::find(set, w) != set.end(); });
}

std::optional<PiiKind> kindOfWords(const std::vector<std::string>& words) {
  for (const NamePattern& pattern : kNamePatterns)
    if (hasRun(words, pattern)) return pattern.kind;
  return std::nullopt;
}

// ---- values ---------------------------------------------------------------------------------

bool emailLocalChar(char c) {
  if (isAlnum(c) || static_cast<unsigned char>(c) >= 0x80) return true;
  constexpr std::string_view kSpecials = ".!#$%&'*+/=?^_`{|}~-";
  return kSpecials.find(c) != std::string_view::npos;
}

bool emailDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  std::size_t labels = 0;
  std::string_view last;
  while (true) {
    const auto dot = domain.find('.');
    const std::string_view label = domain.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!isAlnum(c) && c != '-' && static_cast<unsigned char>(c) < 0x80) return false;
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  // A top-level domain is letters (or an IDN's UTF-8 bytes), at least two.
  return labels >= 2 && last.size() >= 2 && std::ranges::all_of(last, [](char c) {
           return isAlpha(c) || static_cast<unsigned char>(c) >= 0x80;
         });
}

struct DigitGroups {
  std::size_t digits = 0;
  std::vector<std::size_t> groups;  // lengths of the runs of digits
  std::string separators;           // the characters between runs, in order
};

// Splits a value made only of digits and the given separator characters (one at a time, none
// at either end) into its digit runs; nullopt for anything else.
std::optional<DigitGroups> digitGroups(std::string_view v, std::string_view separators) {
  DigitGroups out;
  std::size_t run = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (isDigit(c)) {
      ++run;
      ++out.digits;
      continue;
    }
    if (separators.find(c) == std::string_view::npos || run == 0) return std::nullopt;
    out.groups.push_back(run);
    out.separators.push_back(c);
    run = 0;
  }
  if (run == 0) return std::nullopt;
  out.groups.push_back(run);
  return out;
}

bool groupsAre(const DigitGroups& g, std::initializer_list<std::size_t> lengths) {
  return std::ranges::equal(g.groups, lengths);
}

bool luhn(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

using Matcher = bool (*)(std::string_view);

// Most specific first: an SSN also has a phone's shape, a 15-digit Amex number too.
constexpr std::array<std::pair<PiiKind, Matcher>, 5> kMatchers{{
    {PiiKind::kSsn, &looksLikeSsn},
    {PiiKind::kCard, &looksLikeCard},
    {PiiKind::kIban, &looksLikeIban},
    {PiiKind::kEmail, &looksLikeEmail},
    {PiiKind::kPhone, &looksLikePhone},
}};

enum class TypeClass { kString, kNumber, kOther };

TypeClass classOf(std::string_view type) {
  constexpr std::array<std::string_view, 9> kStrings{
      "", "text", "varchar", "character varying", "bpchar", "character", "citext", "name", "char"};
  constexpr std::array<std::string_view, 7> kNumbers{"int2",     "int4",    "int8",  "numeric",
                                                     "smallint", "integer", "bigint"};
  if (std::ranges::find(kStrings, type) != kStrings.end()) return TypeClass::kString;
  if (std::ranges::find(kNumbers, type) != kNumbers.end()) return TypeClass::kNumber;
  return TypeClass::kOther;
}

bool fitsType(PiiKind kind, TypeClass type) {
  if (type == TypeClass::kString) return true;
  return type == TypeClass::kNumber &&
         (kind == PiiKind::kPhone || kind == PiiKind::kSsn || kind == PiiKind::kCard);
}

}  // namespace

std::string_view piiKindName(PiiKind kind) {
  switch (kind) {
    case PiiKind::kEmail:
      return "email";
    case PiiKind::kPhone:
      return "phone";
    case PiiKind::kSsn:
      return "ssn";
    case PiiKind::kCard:
      return "card";
    case PiiKind::kIban:
      return "iban";
  }
  return "unknown";
}

MaskKind piiDefaultMask(PiiKind kind) {
  switch (kind) {
    case PiiKind::kEmail:
      return MaskKind::kEmail;
    case PiiKind::kPhone:
      return MaskKind::kPhone;
    case PiiKind::kSsn:
      return MaskKind::kSsn;
    case PiiKind::kCard:
    case PiiKind::kIban:
      return MaskKind::kRedact;
  }
  return MaskKind::kRedact;
}

bool looksLikeEmail(std::string_view value) {
  const std::string_view v = trim(value);
  if (v.size() > kMaxValueLength) return false;
  const auto at = v.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || v.find('@', at + 1) != v.npos)
    return false;
  const std::string_view local = v.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != local.npos) return false;
  if (!std::ranges::all_of(local, emailLocalChar)) return false;
  return emailDomain(v.substr(at + 1));
}

bool looksLikePhone(std::string_view value) {
  std::string_view v = trim(value);
  if (v.size() > 32 || v.empty()) return false;
  const bool plus = v.front() == '+';
  if (plus) v.remove_prefix(1);
  // One area code in parentheses, "(030) 1234567" or "+1 (555) 123-4567": the parentheses
  // go, the digits inside stay a group of their own.
  std::string flat(v);
  const auto open = flat.find('(');
  const bool parenthesised = open != std::string::npos;
  if (parenthesised) {
    const auto close = flat.find(')');
    if (close == std::string::npos || close < open + 2 || close > open + 6 ||
        flat.find_first_of("()", open + 1) != close ||
        flat.find_first_of("()", close + 1) != std::string::npos)
      return false;
    for (auto i = open + 1; i < close; ++i)
      if (!isDigit(flat[i])) return false;
    flat.erase(close, 1);
    flat.erase(open, 1);
  } else if (flat.find(')') != std::string::npos) {
    return false;
  }
  const auto g = digitGroups(flat, " -./");
  if (!g) return false;
  if (plus) return g->digits >= 8 && g->digits <= 15;
  if (g->digits < 7 || g->digits > 15) return false;
  // Things with a phone's digits that are not phones: dates, IPv4 addresses, SSNs, decimals.
  if (groupsAre(*g, {4, 2, 2}) || groupsAre(*g, {2, 2, 4})) return false;
  if (g->groups.size() == 4 && g->separators == "..." &&
      std::ranges::all_of(g->groups, [](std::size_t n) { return n <= 3; }))
    return false;
  if (looksLikeSsn(value)) return false;
  if (g->groups.size() == 2 && g->separators == ".") return false;
  // Without a country code, a national number is grouped: three groups or more, an area code
  // in parentheses, or at least ten digits in two groups. A bare run of digits is an id.
  return parenthesised || g->groups.size() >= 3 || (g->groups.size() == 2 && g->digits >= 10);
}

bool looksLikeSsn(std::string_view value) {
  const std::string_view v = trim(value);
  const auto g = digitGroups(v, "- ");
  if (!g || !groupsAre(*g, {3, 2, 4}) || g->separators[0] != g->separators[1]) return false;
  const std::string_view area = v.substr(0, 3), group = v.substr(4, 2), serial = v.substr(7, 4);
  return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000";
}

bool looksLikeCard(std::string_view value) {
  const std::string_view v = trim(value);
  if (v.size() > 40) return false;
  const auto g = digitGroups(v, " -");
  if (!g || g->digits < 13 || g->digits > 19) return false;
  std::string digits;
  for (char c : v)
    if (isDigit(c)) digits.push_back(c);
  // Issuer prefixes of the card networks: 2 and 5 (Mastercard), 3 (Amex, Diners, JCB),
  // 4 (Visa), 6 (Discover, UnionPay, Maestro).
  if (digits[0] < '2' || digits[0] > '6') return false;
  if (std::ranges::all_of(digits, [&](char c) { return c == digits[0]; })) return false;
  return luhn(digits);
}

bool looksLikeIban(std::string_view value) {
  const std::string_view v = trim(value);
  if (v.size() > 42) return false;
  std::string compact;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == ' ') {
      if (i == 0 || v[i - 1] == ' ') return false;
      continue;
    }
    if (!isAlnum(v[i])) return false;
    compact.push_back(upper(v[i]));
  }
  if (compact.size() < 15 || compact.size() > 34) return false;
  if (!isAlpha(compact[0]) || !isAlpha(compact[1]) || !isDigit(compact[2]) || !isDigit(compact[3]))
    return false;
  // ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 is 1.
  const std::string rearranged = compact.substr(4) + compact.substr(0, 4);
  int remainder = 0;
  for (char c : rearranged) {
    if (isDigit(c)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else {
      const int n = c - 'A' + 10;
      remainder = (remainder * 100 + n) % 97;
    }
  }
  return remainder == 1;
}

bool piiSampledType(std::string_view type) { return classOf(type) == TypeClass::kString; }

std::optional<PiiKind> piiKindFromName(std::string_view table, std::string_view column) {
  const auto words = tokens(column);
  if (words.empty() || hasAny(words, kNotPiiWords)) return std::nullopt;
  if (auto kind = kindOfWords(words)) return kind;
  // "phone_numbers.number", "emails.address": the table names the kind, the column its value.
  if (words.size() == 1 && hasAny(words, kValueWords)) {
    const auto table_words = tokens(table);
    if (!hasAny(table_words, kNotPiiWords)) return kindOfWords(table_words);
  }
  return std::nullopt;
}

std::optional<PiiClassification> classifyColumn(std::string_view table, std::string_view column,
                                                std::string_view type,
                                                std::span<const std::optional<std::string>> values,
                                                const PiiThresholds& thresholds) {
  const TypeClass type_class = classOf(type);
  if (type_class == TypeClass::kOther) return std::nullopt;
  std::array<std::size_t, kMatchers.size()> matched{};
  std::size_t sampled = 0;
  for (const auto& value : values) {
    if (!value || trim(*value).empty()) continue;
    ++sampled;
    for (std::size_t k = 0; k < kMatchers.size(); ++k)
      if (kMatchers[k].second(*value)) ++matched[k];
  }
  const auto name_kind = piiKindFromName(table, column);
  const auto evidence = [&](PiiKind kind) {
    PiiEvidence e;
    e.name = name_kind == kind;
    e.sampled = sampled;
    for (std::size_t k = 0; k < kMatchers.size(); ++k)
      if (kMatchers[k].first == kind) e.matched = matched[k];
    e.values = sampled >= thresholds.min_values && sampled > 0 &&
               static_cast<double>(e.matched) >= thresholds.share * static_cast<double>(sampled);
    return e;
  };
  if (type_class == TypeClass::kString) {
    for (const auto& [kind, match] : kMatchers) {
      if (const PiiEvidence e = evidence(kind); e.values) return PiiClassification{kind, e};
    }
  }
  if (name_kind && fitsType(*name_kind, type_class))
    return PiiClassification{*name_kind, evidence(*name_kind)};
  return std::nullopt;
}

}  // namespace tenantwall::policy
