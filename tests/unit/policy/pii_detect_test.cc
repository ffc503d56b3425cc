// The PII classifier: value shapes (with their checksums), name heuristics, thresholds, and the
// false positives each rule exists to avoid.
#include "policy/pii_detect.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tenantwall::policy {
namespace {

using Values = std::vector<std::optional<std::string>>;

Values many(std::initializer_list<const char*> values) {
  Values out;
  for (const char* v : values)
    out.emplace_back(v == nullptr ? std::nullopt : std::optional<std::string>(v));
  return out;
}

std::optional<PiiKind> kindOf(std::string_view column, std::string_view type, const Values& v,
                              std::string_view table = "t") {
  const auto found = classifyColumn(table, column, type, v);
  return found ? std::optional<PiiKind>(found->kind) : std::nullopt;
}

TEST(PiiShapes, Emails) {
  for (const char* v : {"alice.anders@acme.example", "gus@globex.example",
                        "a+tag@sub.example.co.uk", "  o'brien@example.org  ", "x_y-z@a-b.io"})
    EXPECT_TRUE(looksLikeEmail(v)) << v;
  for (const char* v : {"not an email", "a@b", "@example.com", "a@@example.com", "a@example.c",
                        "a..b@example.com", ".a@example.com", "a@-example.com", "a@example.123",
                        "Alice <alice@example.com>", "a b@example.com", "a@exa mple.com", ""})
    EXPECT_FALSE(looksLikeEmail(v)) << v;
  EXPECT_FALSE(looksLikeEmail(std::string(300, 'a') + "@example.com"));
}

TEST(PiiShapes, Phones) {
  for (const char* v :
       {"+1-555-0101", "+44 20 7946 0958", "+4930123456", "(555) 123-4567", "+1 (555) 123-4567",
        "555 123 4567", "030 1234567", "555.123.4567", "(030)1234567"})
    EXPECT_TRUE(looksLikePhone(v)) << v;
  for (const char* v : {"1234567890",         // a bare run of digits is an id
                        "555-0101",           // two short groups: a code
                        "2026-01-05",         // a date
                        "05.01.2026",         // a date
                        "192.168.100.200",    // an IPv4 address
                        "123-45-6789",        // an SSN
                        "1234567.89",         // a decimal number
                        "+123",               // too short
                        "+1234567890123456",  // too long for E.164
                        "-1234567", "12:30:45", "(555 123-4567", "555) 123-4567", "(abc) 123-4567",
                        "call 555 123 4567", ""})
    EXPECT_FALSE(looksLikePhone(v)) << v;
}

TEST(PiiShapes, SocialSecurityNumbers) {
  for (const char* v : {"123-45-6789", "234-56-7890", "567-89-0123", "123 45 6789"})
    EXPECT_TRUE(looksLikeSsn(v)) << v;
  // Never issued: area 000, 666 or 9xx, group 00, serial 0000; and other shapes.
  for (const char* v : {"000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000",
                        "123456789", "123-456-789", "123-45 6789", "12-345-6789", "abc-de-fghi"})
    EXPECT_FALSE(looksLikeSsn(v)) << v;
}

TEST(PiiShapes, CardNumbersNeedTheLuhnCheck) {
  for (const char* v : {"4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004",
                        "378282246310005", "6011111111111117", "3530111333300000"})
    EXPECT_TRUE(looksLikeCard(v)) << v;
  for (const char* v : {"4111 1111 1111 1112",   // Luhn fails
                        "1111111111111117",      // no card network starts with 1
                        "4444444444444444",      // one digit repeated
                        "411111111111",          // too short
                        "41111111111111111111",  // too long
                        "4111  1111 1111 1111", "4111-1111 1111 111a", ""})
    EXPECT_FALSE(looksLikeCard(v)) << v;
}

TEST(PiiShapes, IbansNeedTheMod97Check) {
  for (const char* v :
       {"DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606",
        "de89370400440532013000", "NL91ABNA0417164300"})
    EXPECT_TRUE(looksLikeIban(v)) << v;
  for (const char* v : {"DE89 3704 0044 0532 0130 01",  // check digits wrong
                        "DE8937040044",                 // too short
                        "1289370400440532013000",       // no country
                        "DE89-3704-0044-0532-0130-00", "DE89  3704 0044 0532 0130 00", ""})
    EXPECT_FALSE(looksLikeIban(v)) << v;
}

TEST(PiiNames, TellingNames) {
  EXPECT_EQ(piiKindFromName("t", "email"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "customer_email"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "e_mail"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "contactEmail"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "mail"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "email2"), PiiKind::kEmail);
  EXPECT_EQ(piiKindFromName("t", "phone"), PiiKind::kPhone);
  EXPECT_EQ(piiKindFromName("t", "mobile"), PiiKind::kPhone);
  EXPECT_EQ(piiKindFromName("t", "tel"), PiiKind::kPhone);
  EXPECT_EQ(piiKindFromName("t", "home_telephone"), PiiKind::kPhone);
  EXPECT_EQ(piiKindFromName("t", "ssn"), PiiKind::kSsn);
  EXPECT_EQ(piiKindFromName("t", "social_security_number"), PiiKind::kSsn);
  EXPECT_EQ(piiKindFromName("t", "card_number"), PiiKind::kCard);
  EXPECT_EQ(piiKindFromName("t", "cc_number"), PiiKind::kCard);
  EXPECT_EQ(piiKindFromName("t", "pan"), PiiKind::kCard);
  EXPECT_EQ(piiKindFromName("t", "credit_card"), PiiKind::kCard);
  EXPECT_EQ(piiKindFromName("t", "iban"), PiiKind::kIban);
  EXPECT_EQ(piiKindFromName("t", "payout_iban"), PiiKind::kIban);
  // The table names the kind, the column its value.
  EXPECT_EQ(piiKindFromName("phone_numbers", "number"), PiiKind::kPhone);
  EXPECT_EQ(piiKindFromName("emails", "address"), PiiKind::kEmail);
}

TEST(PiiNames, NamesAboutPiiAreNotPii) {
  for (const char* name :
       {"email_verified", "email_count", "phone_type",  "has_phone",     "email_domain",
        "ssn_last4",      "email_hash",  "card_status", "email_sent_at", "mail_subject",
        "iban_country",   "customer_id", "hotel",       "mailing_list",  "telemetry",
        "panel",          "company",     "name",        "notes",         "status"})
    EXPECT_EQ(piiKindFromName("t", name), std::nullopt) << name;
  EXPECT_EQ(piiKindFromName("orders", "number"), std::nullopt);
  EXPECT_EQ(piiKindFromName("phone_types", "number"), std::nullopt);
}

TEST(PiiClassify, ValuesFindPiiUnderAnyName) {
  const auto emails = many({"alice@acme.example", "bob@acme.example", "carol@globex.example"});
  const auto found = classifyColumn("customers", "contact", "text", emails);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, PiiKind::kEmail);
  EXPECT_FALSE(found->evidence.name);
  EXPECT_TRUE(found->evidence.values);
  EXPECT_EQ(found->evidence.sampled, 3u);
  EXPECT_EQ(found->evidence.matched, 3u);
  EXPECT_DOUBLE_EQ(found->evidence.share(), 1.0);

  EXPECT_EQ(kindOf("x", "varchar", many({"+1-555-0101", "+1-555-0102", "+49 30 1234567"})),
            PiiKind::kPhone);
  EXPECT_EQ(kindOf("x", "text", many({"123-45-6789", "234-56-7890", "345-67-8901"})),
            PiiKind::kSsn);
  EXPECT_EQ(
      kindOf("x", "bpchar", many({"4111111111111111", "5500000000000004", "378282246310005"})),
      PiiKind::kCard);
  EXPECT_EQ(
      kindOf("x", "citext",
             many({"DE89370400440532013000", "GB82WEST12345698765432", "NL91ABNA0417164300"})),
      PiiKind::kIban);
}

TEST(PiiClassify, NameAndValuesTogether) {
  const auto found = classifyColumn("customers", "email", "text",
                                    many({"a@x.example", "b@x.example", "c@x.example", nullptr}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, PiiKind::kEmail);
  EXPECT_TRUE(found->evidence.name);
  EXPECT_TRUE(found->evidence.values);
  EXPECT_EQ(found->evidence.sampled, 3u);  // the NULL does not count
}

TEST(PiiClassify, ThresholdKeepsStrayMatchesOut) {
  // 7 of 10 look like emails: a free-text column, not an email column.
  Values v = many({"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example",
                   "f@x.example", "g@x.example", "call me", "n/a", "later"});
  EXPECT_EQ(kindOf("contact", "text", v), std::nullopt);
  v[7] = "h@x.example";  // 8 of 10
  EXPECT_EQ(kindOf("contact", "text", v), PiiKind::kEmail);
  // Blanks and NULLs are not values: 3 of 3.
  EXPECT_EQ(kindOf("contact", "text",
                   many({"a@x.example", "", "  ", nullptr, "b@x.example", "c@x.example"})),
            PiiKind::kEmail);
}

TEST(PiiClassify, TooFewValuesAreNoEvidence) {
  EXPECT_EQ(kindOf("contact", "text", many({"a@x.example", "b@x.example"})), std::nullopt);
  PiiThresholds loose;
  loose.min_values = 1;
  EXPECT_TRUE(classifyColumn("t", "contact", "text", many({"a@x.example"}), loose));
}

TEST(PiiClassify, NameAloneMasksEvenWhenValuesDisagree) {
  const auto found = classifyColumn("t", "email", "text", many({"yes", "no", "yes", "no"}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, PiiKind::kEmail);
  EXPECT_TRUE(found->evidence.name);
  EXPECT_FALSE(found->evidence.values);
  EXPECT_EQ(found->evidence.sampled, 4u);
  EXPECT_EQ(found->evidence.matched, 0u);
  // No values at all (an empty table, or the database could not be sampled).
  EXPECT_EQ(kindOf("ssn", "", {}), PiiKind::kSsn);
}

TEST(PiiClassify, ValuesWinOverAMisleadingName) {
  const auto found =
      classifyColumn("t", "phone", "text", many({"a@x.example", "b@x.example", "c@x.example"}));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, PiiKind::kEmail);
  EXPECT_FALSE(found->evidence.name);
}

TEST(PiiClassify, Types) {
  // Numbers can hold phone numbers, SSNs and cards (by name; their values are not sampled)...
  EXPECT_EQ(kindOf("phone_number", "int8", {}), PiiKind::kPhone);
  EXPECT_EQ(kindOf("ssn", "int4", {}), PiiKind::kSsn);
  EXPECT_EQ(kindOf("card_number", "numeric", {}), PiiKind::kCard);
  // ... but not email addresses or IBANs.
  EXPECT_EQ(kindOf("email", "int8", {}), std::nullopt);
  EXPECT_EQ(kindOf("iban", "int8", {}), std::nullopt);
  // Other types never hold these kinds as such.
  EXPECT_EQ(kindOf("email", "bool", {}), std::nullopt);
  EXPECT_EQ(kindOf("phone", "timestamptz", {}), std::nullopt);
  EXPECT_EQ(kindOf("email", "_text", {}), std::nullopt);
  EXPECT_EQ(kindOf("x", "jsonb", many({"a@x.example", "b@x.example", "c@x.example"})),
            std::nullopt);
  EXPECT_TRUE(piiSampledType("text"));
  EXPECT_TRUE(piiSampledType("varchar"));
  EXPECT_FALSE(piiSampledType("int8"));
}

TEST(PiiClassify, OrdinaryColumnsAreNotPii) {
  EXPECT_EQ(kindOf("status", "text", many({"paid", "pending", "paid", "refunded"})), std::nullopt);
  EXPECT_EQ(kindOf("name", "text", many({"Alice Anders", "Arthur Abbott", "Amy Adams"})),
            std::nullopt);
  EXPECT_EQ(kindOf("order_ref", "text", many({"1234567890", "2234567890", "3234567890"})),
            std::nullopt);
  EXPECT_EQ(kindOf("day", "text", many({"2026-01-05", "2026-02-11", "2026-03-02"})), std::nullopt);
  EXPECT_EQ(kindOf("ip", "text", many({"192.168.100.200", "10.100.200.123", "172.160.10.100"})),
            std::nullopt);
  EXPECT_EQ(kindOf("price", "text", many({"1234567.89", "2345678.90", "3456789.01"})),
            std::nullopt);
  // Random 16-digit ids: about one in ten passes Luhn, far from the threshold.
  Values ids;
  for (int i = 0; i < 50; ++i) ids.emplace_back("4" + std::to_string(100000000000000LL + i * 7919));
  EXPECT_EQ(kindOf("ref", "text", ids), std::nullopt);
  // Huge values are looked at without harm and match nothing.
  EXPECT_EQ(kindOf("blob", "text", Values(5, std::string(100000, '7'))), std::nullopt);
}

TEST(PiiKinds, NamesAndDefaultMasks) {
  EXPECT_EQ(piiKindName(PiiKind::kEmail), "email");
  EXPECT_EQ(piiKindName(PiiKind::kIban), "iban");
  EXPECT_EQ(piiDefaultMask(PiiKind::kEmail), MaskKind::kEmail);
  EXPECT_EQ(piiDefaultMask(PiiKind::kPhone), MaskKind::kPhone);
  EXPECT_EQ(piiDefaultMask(PiiKind::kSsn), MaskKind::kSsn);
  EXPECT_EQ(piiDefaultMask(PiiKind::kCard), MaskKind::kRedact);
  EXPECT_EQ(piiDefaultMask(PiiKind::kIban), MaskKind::kRedact);
}

}  // namespace
}  // namespace tenantwall::policy
