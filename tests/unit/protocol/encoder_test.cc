// Tests for protocol/encoder: exact bytes for a few messages, and every encoder round-tripped
// through the decoder and the body parsers.
#include "protocol/encoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "protocol/decoder.h"

namespace tenantwall::protocol {
namespace {

using namespace std::string_literals;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// Decodes exactly one tagged message that fills the whole buffer.
Frame onlyFrame(const std::string& wire) {
  const FrameResult r = decodeFrame(wire);
  EXPECT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.frame.size, wire.size());
  return r.frame;
}

// ---- exact bytes ----

TEST(Encoder, AppendMessageWritesTagLengthBody) {
  std::string out;
  appendMessage(out, 'Q', "ab");
  EXPECT_EQ(out, "Q"s + be32(6) + "ab");
}

TEST(Encoder, ErrorResponseFieldOrder) {
  std::string out;
  PgError error = makeError("42501", "permission denied for table t", "ask for access");
  error.detail = "policy rule r1";
  appendErrorResponse(out, error);
  const std::string body =
      "SERROR\0VERROR\0C42501\0Mpermission denied for table t\0Dpolicy rule r1\0"
      "Hask for access\0\0"s;
  EXPECT_EQ(out, "E"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

TEST(Encoder, ErrorResponseOmitsEmptyDetailAndHint) {
  std::string out;
  appendErrorResponse(out, makeFatal("08P01", "bad"));
  const std::string body = "SFATAL\0VFATAL\0C08P01\0Mbad\0\0"s;
  EXPECT_EQ(out, "E"s + be32(static_cast<std::uint32_t>(4 + body.size())) + body);
}

TEST(Encoder, SslAnswerIsOneByte) {
  std::string out;
  appendSslAnswer(out, 'N');
  EXPECT_EQ(out, "N");
  appendSslAnswer(out, 'S');
  EXPECT_EQ(out, "NS");
}

TEST(Encoder, StartupBytes) {
  std::string out;
  appendStartup(out, {{"user", "bob"}});
  const std::string rest = "user\0bob\0\0"s;
  EXPECT_EQ(out, be32(static_cast<std::uint32_t>(8 + rest.size())) + be32(196608) + rest);
}

TEST(Encoder, CancelRequestBytes) {
  std::string out;
  appendCancelRequest(out, 7, -2);
  EXPECT_EQ(out, be32(16) + be32(80877102) + be32(7) + be32(0xfffffffe));
}

// A NUL inside a value must not end the string early and let the rest become new fields.
TEST(Encoder, NulInsideAValueIsCutThere) {
  std::string out;
  appendErrorResponse(out, makeError("XX000", "oops\0Cinjected"s));
  auto fields = parseErrorFields(onlyFrame(out).body);
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(errorField(*fields, 'M'), "oops");
  EXPECT_EQ(errorField(*fields, 'C'), "XX000");
  EXPECT_EQ(fields->size(), 4u);
}

// ---- round trips, backend messages ----

TEST(EncoderRoundTrip, ErrorResponse) {
  std::string out;
  PgError error = makeFatal("28P01", "password authentication failed", "check the password");
  error.detail = "user \"bob\"";
  appendErrorResponse(out, error);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kErrorResponse);
  auto fields = parseErrorFields(frame.body);
  ASSERT_TRUE(fields.has_value());
  ASSERT_EQ(fields->size(), 6u);
  const char codes[] = {'S', 'V', 'C', 'M', 'D', 'H'};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ((*fields)[i].first, codes[i]);
  EXPECT_EQ(errorField(*fields, 'S'), "FATAL");
  EXPECT_EQ(errorField(*fields, 'V'), "FATAL");
  EXPECT_EQ(errorField(*fields, 'C'), "28P01");
  EXPECT_EQ(errorField(*fields, 'M'), "password authentication failed");
  EXPECT_EQ(errorField(*fields, 'D'), "user \"bob\"");
  EXPECT_EQ(errorField(*fields, 'H'), "check the password");
}

TEST(EncoderRoundTrip, NoticeResponse) {
  std::string out;
  PgError notice{"NOTICE", "00000", "relation exists, skipping", {}, {}};
  appendNoticeResponse(out, notice);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kNoticeResponse);
  auto fields = parseErrorFields(frame.body);
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(errorField(*fields, 'S'), "NOTICE");
  EXPECT_EQ(errorField(*fields, 'M'), "relation exists, skipping");
  EXPECT_EQ(fields->size(), 4u);
}

TEST(EncoderRoundTrip, ErrorFieldsKeepOrderAndSkipZeroCode) {
  const std::vector<ErrorField> fields = {
      {'S', "ERROR"}, {'C', "22012"}, {'\0', "dropped"}, {'M', "division by zero"}, {'P', "8"}};
  std::string out;
  appendErrorFields(out, btag::kErrorResponse, fields);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, 'E');
  auto parsed = parseErrorFields(frame.body);
  ASSERT_TRUE(parsed.has_value());
  const std::vector<ErrorField> expected = {
      {'S', "ERROR"}, {'C', "22012"}, {'M', "division by zero"}, {'P', "8"}};
  EXPECT_EQ(*parsed, expected);
}

TEST(EncoderRoundTrip, ReadyForQuery) {
  for (char status : {'I', 'T', 'E'}) {
    std::string out;
    appendReadyForQuery(out, status);
    const Frame frame = onlyFrame(out);
    EXPECT_EQ(frame.tag, btag::kReadyForQuery);
    auto parsed = parseReadyForQuery(frame.body);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, status);
  }
}

TEST(EncoderRoundTrip, AuthenticationOk) {
  std::string out;
  appendAuthenticationOk(out);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kAuthentication);
  auto parsed = parseAuthentication(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->code, static_cast<std::int32_t>(AuthCode::kOk));
  EXPECT_TRUE(parsed->data.empty());
}

TEST(EncoderRoundTrip, AuthenticationSasl) {
  std::string out;
  appendAuthenticationSasl(out, {"SCRAM-SHA-256"});
  auto parsed = parseAuthentication(onlyFrame(out).body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->code, static_cast<std::int32_t>(AuthCode::kSasl));
  EXPECT_EQ(parsed->data, "SCRAM-SHA-256\0\0"s);
}

TEST(EncoderRoundTrip, AuthenticationSaslContinueAndFinal) {
  std::string out;
  appendAuthenticationSaslContinue(out, "r=abc,s=c2FsdA==,i=4096");
  appendAuthenticationSaslFinal(out, "v=c2ln");
  const FrameResult first = decodeFrame(out);
  ASSERT_EQ(first.status, DecodeStatus::kReady);
  auto cont = parseAuthentication(first.frame.body);
  ASSERT_TRUE(cont.has_value());
  EXPECT_EQ(cont->code, static_cast<std::int32_t>(AuthCode::kSaslContinue));
  EXPECT_EQ(cont->data, "r=abc,s=c2FsdA==,i=4096");
  const FrameResult second = decodeFrame(std::string_view(out).substr(first.frame.size));
  ASSERT_EQ(second.status, DecodeStatus::kReady);
  auto fin = parseAuthentication(second.frame.body);
  ASSERT_TRUE(fin.has_value());
  EXPECT_EQ(fin->code, static_cast<std::int32_t>(AuthCode::kSaslFinal));
  EXPECT_EQ(fin->data, "v=c2ln");
}

TEST(EncoderRoundTrip, ParameterStatus) {
  std::string out;
  appendParameterStatus(out, "client_encoding", "UTF8");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kParameterStatus);
  auto parsed = parseParameterStatus(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, (std::pair<std::string, std::string>{"client_encoding", "UTF8"}));
}

TEST(EncoderRoundTrip, BackendKeyData) {
  std::string out;
  appendBackendKeyData(out, 31337, -559038737);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kBackendKeyData);
  auto parsed = parseBackendKeyData(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, 31337);
  EXPECT_EQ(parsed->second, -559038737);
}

TEST(EncoderRoundTrip, RowDescription) {
  FieldDescription id;
  id.name = "id";
  id.table_oid = 16384;
  id.column_attr = 1;
  id.type_oid = 23;
  id.type_size = 4;
  FieldDescription blob;
  blob.name = "payload";
  blob.type_oid = 17;
  blob.format = 1;
  blob.type_modifier = 12;
  std::string out;
  appendRowDescription(out, {id, blob});
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kRowDescription);
  auto parsed = parseRowDescription(frame.body);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->size(), 2u);
  const auto same = [](const FieldDescription& a, const FieldDescription& b) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.table_oid, b.table_oid);
    EXPECT_EQ(a.column_attr, b.column_attr);
    EXPECT_EQ(a.type_oid, b.type_oid);
    EXPECT_EQ(a.type_size, b.type_size);
    EXPECT_EQ(a.type_modifier, b.type_modifier);
    EXPECT_EQ(a.format, b.format);
  };
  same((*parsed)[0], id);
  same((*parsed)[1], blob);
}

TEST(EncoderRoundTrip, EmptyRowDescription) {
  std::string out;
  appendRowDescription(out, {});
  auto parsed = parseRowDescription(onlyFrame(out).body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->empty());
}

TEST(EncoderRoundTrip, DataRow) {
  const std::vector<std::optional<std::string>> row = {"42", std::nullopt, "", "bin\0ary"s};
  std::string out;
  appendDataRow(out, row);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kDataRow);
  auto parsed = parseDataRow(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, row);
}

TEST(EncoderRoundTrip, CommandComplete) {
  std::string out;
  appendCommandComplete(out, "INSERT 0 5");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kCommandComplete);
  auto parsed = parseCommandComplete(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, "INSERT 0 5");
}

TEST(EncoderRoundTrip, EmptyQueryResponse) {
  std::string out;
  appendEmptyQueryResponse(out);
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, btag::kEmptyQuery);
  EXPECT_TRUE(frame.body.empty());
}

// ---- round trips, frontend messages ----

TEST(EncoderRoundTrip, Startup) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {"user", "alice"}, {"database", "sales"}, {"application_name", ""}};
  std::string out;
  appendStartup(out, params);
  const StartupResult r = decodeStartup(out);
  ASSERT_EQ(r.status, DecodeStatus::kReady) << r.error.message;
  EXPECT_EQ(r.consumed, out.size());
  EXPECT_EQ(r.packet.kind, StartupKind::kStartup);
  EXPECT_EQ(r.packet.protocol_version, 196608);
  EXPECT_EQ(r.packet.params, params);
}

TEST(EncoderRoundTrip, StartupSkipsEmptyNames) {
  std::string out;
  appendStartup(out, {{"user", "bob"}, {"", "x"}, {"database", "d"}});
  const StartupResult r = decodeStartup(out);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.params.size(), 2u);
  EXPECT_EQ(r.packet.param("database"), "d");
}

TEST(EncoderRoundTrip, CancelRequest) {
  std::string out;
  appendCancelRequest(out, 4711, -123456789);
  const StartupResult r = decodeStartup(out);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  EXPECT_EQ(r.packet.kind, StartupKind::kCancelRequest);
  EXPECT_EQ(r.packet.cancel_pid, 4711);
  EXPECT_EQ(r.packet.cancel_key, -123456789);
}

TEST(EncoderRoundTrip, Query) {
  std::string out;
  appendQuery(out, "select * from t where a = 'x'");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, ftag::kQuery);
  auto parsed = parseQuery(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, "select * from t where a = 'x'");
}

TEST(EncoderRoundTrip, PasswordMessage) {
  std::string out;
  appendPasswordMessage(out, "md5abc");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, ftag::kPassword);
  EXPECT_EQ(frame.body, "md5abc\0"s);
}

TEST(EncoderRoundTrip, SaslInitialResponse) {
  std::string out;
  appendSaslInitialResponse(out, "SCRAM-SHA-256", "n,,n=,r=abc");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, ftag::kPassword);
  auto parsed = parseSaslInitialResponse(frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(parsed->data, "n,,n=,r=abc");
}

TEST(EncoderRoundTrip, SaslResponse) {
  std::string out;
  appendSaslResponse(out, "c=biws,r=abc,p=cHJvb2Y=");
  const Frame frame = onlyFrame(out);
  EXPECT_EQ(frame.tag, ftag::kPassword);
  EXPECT_EQ(frame.body, "c=biws,r=abc,p=cHJvb2Y=");
}

TEST(EncoderRoundTrip, Terminate) {
  std::string out;
  appendTerminate(out);
  EXPECT_EQ(out, "X"s + be32(4));
  EXPECT_EQ(onlyFrame(out).tag, ftag::kTerminate);
}

// Callers batch replies into one write; the decoder must find each in turn.
TEST(EncoderRoundTrip, BatchOfMessagesDecodesInOrder) {
  std::string out;
  appendAuthenticationOk(out);
  appendParameterStatus(out, "server_version", "16.0");
  appendBackendKeyData(out, 1, 2);
  appendReadyForQuery(out, 'I');
  std::string_view rest = out;
  std::string tags;
  while (!rest.empty()) {
    const FrameResult r = decodeFrame(rest);
    ASSERT_EQ(r.status, DecodeStatus::kReady);
    tags.push_back(r.frame.tag);
    rest.remove_prefix(r.frame.size);
  }
  EXPECT_EQ(tags, "RSKZ");
}

TEST(EncoderRoundTrip, LargeDataRowWithinBound) {
  const std::string big(1 << 20, 'z');
  std::string out;
  appendDataRow(out, {big});
  const FrameResult r = decodeFrame(out);
  ASSERT_EQ(r.status, DecodeStatus::kReady);
  auto parsed = parseDataRow(r.frame.body);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ((*parsed)[0]->size(), big.size());
  EXPECT_EQ(decodeFrame(out, 1024).status, DecodeStatus::kInvalid);
}

}  // namespace
}  // namespace tenantwall::protocol
