// PII auto-detection, the classifier alone: does a column hold email addresses, phone numbers,
// US social security numbers, payment card numbers or IBANs, judged by its name and by a sample
// of its values? Pure: the proxy samples (proxy/pii_scan.h), policy/pii_masks.h decides what a
// finding does to the policy. Values are only looked at, never kept or reported: a finding
// carries counts.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "policy/model.h"

namespace tenantwall::policy {

enum class PiiKind { kEmail, kPhone, kSsn, kCard, kIban };

std::string_view piiKindName(PiiKind kind);  // "email", "phone", "ssn", "card", "iban"
// The mask a finding gets by default: email, phone and ssn have their own; a card number or an
// IBAN is redacted whole (their last digits are not the harmless part a phone's are).
MaskKind piiDefaultMask(PiiKind kind);

// Value evidence needs at least min_values non-blank sampled values, and at least `share` of
// them must have the kind's shape, so a few stray matches in a free-text column do not count.
struct PiiThresholds {
  double share = 0.8;
  std::size_t min_values = 3;
};

struct PiiEvidence {
  bool name = false;        // the column's name (or the table's, for `number`-like columns) says so
  std::size_t sampled = 0;  // non-blank values looked at
  std::size_t matched = 0;  // of those, how many have the kind's shape
  bool values = false;      // matched/sampled met the thresholds

  double share() const { return sampled == 0 ? 0.0 : static_cast<double>(matched) / sampled; }
};

struct PiiClassification {
  PiiKind kind;
  PiiEvidence evidence;
};

// What column (of table, with PostgreSQL type name `type`: "text", "varchar", "int8", ...; empty
// when unknown) holds, given a sample of its values as text (NULLs allowed, they do not count).
// Values decide when they meet the thresholds; otherwise a telling name does (and the values'
// counts for that kind are reported with it). Types other than strings and numbers are never
// PII here (a boolean `email_verified`, a timestamp `mail_sent`), and email and IBAN need a
// string type. nullopt: nothing found.
std::optional<PiiClassification> classifyColumn(std::string_view table, std::string_view column,
                                                std::string_view type,
                                                std::span<const std::optional<std::string>> values,
                                                const PiiThresholds& thresholds = {});

// The value shapes, exposed for tests. Each takes one value (surrounding blanks ignored).
bool looksLikeEmail(std::string_view value);
bool looksLikePhone(std::string_view value);  // E.164 (+...) or grouped national digits
bool looksLikeSsn(std::string_view value);    // ###-##-#### with a valid area, group, serial
bool looksLikeCard(std::string_view value);   // 13-19 digits, issuer prefix, Luhn check
bool looksLikeIban(std::string_view value);   // country, check digits, mod-97 == 1

// Whether values of a column of this type are worth sampling (string types; empty: unknown).
bool piiSampledType(std::string_view type);

// The kind a column's name suggests (table gives context to a bare `number` or `address`).
std::optional<PiiKind> piiKindFromName(std::string_view table, std::string_view column);

}  // namespace tenantwall::policy
