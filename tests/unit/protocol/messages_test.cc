// Tests for protocol/messages: body parsers against hand-written wire bytes and malformed input.
#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace tenantwall::protocol {
namespace {

using namespace std::string_literals;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string be16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

template <typename T>
void expectProtocolViolation(const std::expected<T, PgError>& result) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().sqlstate, "08P01");
  EXPECT_FALSE(result.error().message.empty());
}

// ---- Query ----

TEST(ParseQuery, ReturnsTextWithoutTerminator) {
  const std::string body = "select 1\0"s;  // the result is a view into the body
  auto sql = parseQuery(body);
  ASSERT_TRUE(sql.has_value());
  EXPECT_EQ(*sql, "select 1");
}

TEST(ParseQuery, EmptyQueryStringIsValid) {
  const std::string body = "\0"s;
  auto sql = parseQuery(body);
  ASSERT_TRUE(sql.has_value());
  EXPECT_EQ(*sql, "");
}

TEST(ParseQuery, MissingTerminatorIsInvalid) {
  expectProtocolViolation(parseQuery("select 1"));
  expectProtocolViolation(parseQuery(""));
}

// The policy must see exactly what PostgreSQL would run, so nothing may hide after a NUL.
TEST(ParseQuery, EmbeddedNulIsInvalid) {
  expectProtocolViolation(parseQuery("select 1\0; drop table t\0"s));
  expectProtocolViolation(parseQuery("select 1\0\0"s));
}

// ---- Authentication ----

TEST(ParseAuthentication, Ok) {
  auto r = parseAuthentication(be32(0));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, static_cast<std::int32_t>(AuthCode::kOk));
  EXPECT_TRUE(r->data.empty());
}

TEST(ParseAuthentication, Md5CarriesFourByteSalt) {
  const std::string body = be32(5) + "\x01\x02\x03\x04";
  auto r = parseAuthentication(body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 5);
  EXPECT_EQ(r->data, "\x01\x02\x03\x04");
  expectProtocolViolation(parseAuthentication(be32(5) + "\x01\x02\x03"));
  expectProtocolViolation(parseAuthentication(be32(5) + "\x01\x02\x03\x04\x05"));
}

TEST(ParseAuthentication, SaslMechanismList) {
  const std::string list = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
  const std::string body = be32(10) + list;  // data is a view into the body
  auto r = parseAuthentication(body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 10);
  EXPECT_EQ(r->data, list);
  expectProtocolViolation(parseAuthentication(be32(10) + "SCRAM-SHA-256\0"s));
  expectProtocolViolation(parseAuthentication(be32(10) + "SCRAM-SHA-256"s));
  expectProtocolViolation(parseAuthentication(be32(10) + "SCRAM-SHA-256\0\0x"s));
}

TEST(ParseAuthentication, SaslContinueAndFinalCarryPayload) {
  const std::string cont = be32(11) + "r=abc,s=c2FsdA==,i=4096";
  auto c = parseAuthentication(cont);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->code, 11);
  EXPECT_EQ(c->data, "r=abc,s=c2FsdA==,i=4096");
  const std::string fin = be32(12) + "v=xyz";
  auto f = parseAuthentication(fin);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->data, "v=xyz");
}

TEST(ParseAuthentication, TruncatedOrTrailingDataIsInvalid) {
  expectProtocolViolation(parseAuthentication(""));
  expectProtocolViolation(parseAuthentication("\0\0\0"s));
  expectProtocolViolation(parseAuthentication(be32(0) + "x"));
  expectProtocolViolation(parseAuthentication(be32(3) + "x"));
}

TEST(ParseAuthentication, UnknownCodeIsReturnedForTheCallerToRefuse) {
  auto r = parseAuthentication(be32(7));  // GSS
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 7);
}

// ---- SASLInitialResponse ----

TEST(ParseSaslInitialResponse, MechanismAndData) {
  const std::string body = "SCRAM-SHA-256\0"s + be32(5) + "n,,xx";
  auto r = parseSaslInitialResponse(body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(r->data, "n,,xx");
}

TEST(ParseSaslInitialResponse, MinusOneMeansNoData) {
  auto r = parseSaslInitialResponse("SCRAM-SHA-256\0"s + be32(0xffffffff));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->data.empty());
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256\0"s + be32(0xffffffff) + "x"));
}

TEST(ParseSaslInitialResponse, LengthMustMatch) {
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256\0"s + be32(6) + "n,,xx"));
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256\0"s + be32(4) + "n,,xx"));
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256\0"s + be32(0xfffffffe)));
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256\0"s + "\0\0"s));
  expectProtocolViolation(parseSaslInitialResponse("SCRAM-SHA-256"));
}

// ---- ParameterStatus, BackendKeyData, ReadyForQuery, CommandComplete ----

TEST(ParseParameterStatus, NameAndValue) {
  auto r = parseParameterStatus(
      "server_version\0"
      "16.2\0"s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, "server_version");
  EXPECT_EQ(r->second, "16.2");
  expectProtocolViolation(
      parseParameterStatus("server_version\0"
                           "16.2"s));
  expectProtocolViolation(parseParameterStatus("server_version"));
  expectProtocolViolation(parseParameterStatus("a\0b\0c"s));
}

TEST(ParseBackendKeyData, PidAndKey) {
  auto r = parseBackendKeyData(be32(1234) + be32(0x80000001));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 1234);
  EXPECT_EQ(r->second, static_cast<std::int32_t>(0x80000001));
  expectProtocolViolation(parseBackendKeyData(be32(1234)));
  expectProtocolViolation(parseBackendKeyData(be32(1) + be32(2) + "x"));
}

TEST(ParseReadyForQuery, TransactionStatus) {
  for (char status : {'I', 'T', 'E'}) {
    auto r = parseReadyForQuery(std::string(1, status));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, status);
  }
  expectProtocolViolation(parseReadyForQuery(""));
  expectProtocolViolation(parseReadyForQuery("II"));
  expectProtocolViolation(parseReadyForQuery("X"));
}

TEST(ParseCommandComplete, Tag) {
  const std::string body = "SELECT 3\0"s;
  auto r = parseCommandComplete(body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "SELECT 3");
  expectProtocolViolation(parseCommandComplete("SELECT 3"));
  expectProtocolViolation(parseCommandComplete("SELECT 3\0x\0"s));
}

// ---- ErrorResponse / NoticeResponse ----

TEST(ParseErrorFields, FieldsInWireOrder) {
  auto r = parseErrorFields("SERROR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0P15\0\0"s);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0], (ErrorField{'S', "ERROR"}));
  EXPECT_EQ((*r)[2], (ErrorField{'C', "42P01"}));
  EXPECT_EQ((*r)[4], (ErrorField{'P', "15"}));
  EXPECT_EQ(errorField(*r, 'M'), "relation \"t\" does not exist");
  EXPECT_EQ(errorField(*r, 'D'), "");
}

TEST(ParseErrorFields, OnlyTerminatorIsEmptyList) {
  auto r = parseErrorFields("\0"s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST(ParseErrorFields, MissingTerminatorsAreInvalid) {
  expectProtocolViolation(parseErrorFields(""));
  expectProtocolViolation(parseErrorFields("SERROR\0"s));  // no final 0
  expectProtocolViolation(parseErrorFields("SERROR"));     // value not terminated
  expectProtocolViolation(parseErrorFields("S"));
  expectProtocolViolation(parseErrorFields("SERROR\0\0junk"s));
}

// ---- RowDescription ----

std::string fieldBytes(const std::string& name, std::uint32_t table, std::uint16_t attr,
                       std::uint32_t type, std::uint16_t size, std::uint32_t mod,
                       std::uint16_t format) {
  return name + '\0' + be32(table) + be16(attr) + be32(type) + be16(size) + be32(mod) +
         be16(format);
}

TEST(ParseRowDescription, Fields) {
  const std::string body = be16(2) + fieldBytes("id", 16384, 1, 23, 4, 0xffffffff, 0) +
                           fieldBytes("name", 16384, 2, 25, 0xffff, 0xffffffff, 1);
  auto r = parseRowDescription(body);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "id");
  EXPECT_EQ((*r)[0].table_oid, 16384);
  EXPECT_EQ((*r)[0].column_attr, 1);
  EXPECT_EQ((*r)[0].type_oid, 23);
  EXPECT_EQ((*r)[0].type_size, 4);
  EXPECT_EQ((*r)[0].type_modifier, -1);
  EXPECT_EQ((*r)[0].format, 0);
  EXPECT_EQ((*r)[1].name, "name");
  EXPECT_EQ((*r)[1].type_size, -1);
  EXPECT_EQ((*r)[1].format, 1);
}

TEST(ParseRowDescription, ZeroFields) {
  auto r = parseRowDescription(be16(0));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

TEST(ParseRowDescription, MalformedIsInvalid) {
  const std::string one = fieldBytes("id", 1, 1, 23, 4, 0, 0);
  expectProtocolViolation(parseRowDescription(""));
  expectProtocolViolation(parseRowDescription("\0"s));
  expectProtocolViolation(parseRowDescription(be16(0xffff) + one));  // negative count
  expectProtocolViolation(parseRowDescription(be16(2) + one));       // count exceeds fields
  expectProtocolViolation(parseRowDescription(be16(1) + one.substr(0, one.size() - 1)));
  expectProtocolViolation(parseRowDescription(be16(1) + "id"));       // name not terminated
  expectProtocolViolation(parseRowDescription(be16(1) + one + "x"));  // trailing bytes
  expectProtocolViolation(parseRowDescription(be16(0x7fff)));
}

// ---- DataRow ----

TEST(ParseDataRow, ValuesAndNulls) {
  const std::string body = be16(3) + be32(3) + "abc" + be32(0xffffffff) + be32(0);
  auto r = parseDataRow(body);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], std::optional<std::string>("abc"));
  EXPECT_EQ((*r)[1], std::nullopt);
  EXPECT_EQ((*r)[2], std::optional<std::string>(""));
}

TEST(ParseDataRow, BinaryValuesKeepNulBytes) {
  auto r = parseDataRow(be16(1) + be32(4) + "\0\1\0\2"s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0], std::optional<std::string>("\0\1\0\2"s));
}

TEST(ParseDataRow, NegativeColumnLengthOtherThanMinusOneIsInvalid) {
  expectProtocolViolation(parseDataRow(be16(1) + be32(0xfffffffe)));
  expectProtocolViolation(parseDataRow(be16(1) + be32(0x80000000) + "abc"));
}

TEST(ParseDataRow, TruncatedIsInvalid) {
  expectProtocolViolation(parseDataRow(""));
  expectProtocolViolation(parseDataRow("\0"s));
  expectProtocolViolation(parseDataRow(be16(1) + be32(4) + "abc"));  // value short
  expectProtocolViolation(parseDataRow(be16(2) + be32(3) + "abc"));  // column missing
  expectProtocolViolation(parseDataRow(be16(1) + "\0\0"s));          // length short
  expectProtocolViolation(parseDataRow(be16(1) + be32(0x7fffffff) + "abc"));
}

TEST(ParseDataRow, CountThatCannotFitIsInvalid) {
  expectProtocolViolation(parseDataRow(be16(0xffff)));  // negative
  expectProtocolViolation(parseDataRow(be16(0x7fff) + be32(0)));
}

TEST(ParseDataRow, TrailingBytesAreInvalid) {
  expectProtocolViolation(parseDataRow(be16(1) + be32(1) + "ab"));
}

// ---- robustness ----

// Every parser over random bodies and over valid bodies with bytes flipped and cut short.
// Nothing may crash or read out of bounds (run under -DTENANTWALL_SANITIZE=ON to check),
// and every failure carries a SQLSTATE.
TEST(MessagesRobustness, RandomBytesMustNotCrash) {
  std::mt19937 rng(7677);
  const std::string seeds[] = {
      "select 1\0"s,
      be32(10) + "SCRAM-SHA-256\0\0"s,
      be32(5) + "abcd",
      "SCRAM-SHA-256\0"s + be32(3) + "n,,",
      "a\0b\0"s,
      be32(1) + be32(2),
      "SERROR\0C08P01\0Mx\0\0"s,
      be16(1) + fieldBytes("id", 1, 1, 23, 4, 0, 0),
      be16(2) + be32(1) + "a" + be32(0xffffffff),
  };
  const auto check = [](const auto& result) {
    if (!result) {
      EXPECT_FALSE(result.error().sqlstate.empty());
    }
  };
  for (int i = 0; i < 6000; ++i) {
    std::string body;
    if (i % 2 == 0) {
      body.resize(rng() % 48);
      for (char& c : body) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
    } else {
      body = seeds[rng() % std::size(seeds)];
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) body[rng() % body.size()] = static_cast<char>(rng());
      body.resize(rng() % (body.size() + 1));
    }
    check(parseQuery(body));
    check(parseAuthentication(body));
    check(parseSaslInitialResponse(body));
    check(parseParameterStatus(body));
    check(parseBackendKeyData(body));
    check(parseReadyForQuery(body));
    check(parseErrorFields(body));
    check(parseRowDescription(body));
    check(parseDataRow(body));
    check(parseCommandComplete(body));
    if (auto rows = parseDataRow(body)) {
      std::size_t payload = 0;
      for (const auto& v : *rows) payload += v ? v->size() : 0;
      EXPECT_LE(payload, body.size());
    }
  }
}

}  // namespace
}  // namespace tenantwall::protocol

namespace tenantwall::protocol {
namespace {

TEST(FrontendBodyLimit, ControlMessagesHavePostgresSmallLimit) {
  for (char tag : {ftag::kSync, ftag::kFlush, ftag::kDescribe, ftag::kExecute, ftag::kClose,
                   ftag::kCopyDone, ftag::kCopyFail, ftag::kTerminate}) {
    EXPECT_EQ(frontendBodyLimit(tag), 9996u) << tag;
  }
  for (char tag : {ftag::kQuery, ftag::kParse, ftag::kBind, ftag::kCopyData, ftag::kFunctionCall})
    EXPECT_GT(frontendBodyLimit(tag), 1u << 30) << tag;
}

}  // namespace
}  // namespace tenantwall::protocol
