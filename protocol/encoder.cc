// Appends whole PostgreSQL v3 messages to an output buffer (documentation 55.7 "Message Formats").
#include "protocol/encoder.h"

namespace tenantwall::protocol {
namespace {

constexpr std::int32_t kProtocolVersion30 = 196608;  // 3 << 16
constexpr std::int32_t kCancelRequestCode = 80877102;

void putInt32(std::string& out, std::int32_t value) {
  const auto v = static_cast<std::uint32_t>(value);
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void putInt16(std::string& out, std::int16_t value) {
  const auto v = static_cast<std::uint16_t>(value);
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// Writes s up to its first NUL, then the terminator: a NUL inside a value (say, from a relayed
// error) must never end the string early and let the rest be read as further fields.
void putCString(std::string& out, std::string_view s) {
  out.append(s.substr(0, s.find('\0')));
  out.push_back('\0');
}

// Starts a tagged message and returns where its length word is, for finishMessage.
std::size_t beginMessage(std::string& out, char tag) {
  out.push_back(tag);
  const std::size_t at = out.size();
  putInt32(out, 0);
  return at;
}

// Patches the length word (which counts itself but not the tag) once the body is written.
void finishMessage(std::string& out, std::size_t at) {
  const auto length = static_cast<std::uint32_t>(out.size() - at);
  for (int i = 0; i < 4; ++i)
    out[at + static_cast<std::size_t>(i)] = static_cast<char>(length >> (24 - 8 * i));
}

void appendAuthentication(std::string& out, AuthCode code, std::string_view data) {
  const std::size_t at = beginMessage(out, btag::kAuthentication);
  putInt32(out, static_cast<std::int32_t>(code));
  out.append(data);
  finishMessage(out, at);
}

void appendPgError(std::string& out, char tag, const PgError& error) {
  const std::size_t at = beginMessage(out, tag);
  const auto field = [&](char code, std::string_view value) {
    out.push_back(code);
    putCString(out, value);
  };
  // V is the non-localized severity (PostgreSQL 9.6+); tenantwall never localizes, so S == V.
  field('S', error.severity);
  field('V', error.severity);
  field('C', error.sqlstate);
  field('M', error.message);
  if (!error.detail.empty()) field('D', error.detail);
  if (!error.hint.empty()) field('H', error.hint);
  out.push_back('\0');
  finishMessage(out, at);
}

}  // namespace

void appendMessage(std::string& out, char tag, std::string_view body) {
  const std::size_t at = beginMessage(out, tag);
  out.append(body);
  finishMessage(out, at);
}

void appendErrorResponse(std::string& out, const PgError& error) {
  appendPgError(out, btag::kErrorResponse, error);
}

void appendNoticeResponse(std::string& out, const PgError& notice) {
  appendPgError(out, btag::kNoticeResponse, notice);
}

void appendErrorFields(std::string& out, char tag, const std::vector<ErrorField>& fields) {
  const std::size_t at = beginMessage(out, tag);
  for (const auto& [code, value] : fields) {
    // A zero code would terminate the list early; such a field cannot be expressed.
    if (code == '\0') continue;
    out.push_back(code);
    putCString(out, value);
  }
  out.push_back('\0');
  finishMessage(out, at);
}

void appendReadyForQuery(std::string& out, char status) {
  appendMessage(out, btag::kReadyForQuery, std::string_view(&status, 1));
}

void appendAuthenticationOk(std::string& out) { appendAuthentication(out, AuthCode::kOk, {}); }

void appendAuthenticationSasl(std::string& out, const std::vector<std::string>& mechanisms) {
  const std::size_t at = beginMessage(out, btag::kAuthentication);
  putInt32(out, static_cast<std::int32_t>(AuthCode::kSasl));
  for (const auto& mechanism : mechanisms) {
    // An empty name would end the list early.
    if (!mechanism.empty()) putCString(out, mechanism);
  }
  out.push_back('\0');
  finishMessage(out, at);
}

void appendAuthenticationSaslContinue(std::string& out, std::string_view data) {
  appendAuthentication(out, AuthCode::kSaslContinue, data);
}

void appendAuthenticationSaslFinal(std::string& out, std::string_view data) {
  appendAuthentication(out, AuthCode::kSaslFinal, data);
}

void appendParameterStatus(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t at = beginMessage(out, btag::kParameterStatus);
  putCString(out, name);
  putCString(out, value);
  finishMessage(out, at);
}

void appendBackendKeyData(std::string& out, std::int32_t pid, std::int32_t key) {
  const std::size_t at = beginMessage(out, btag::kBackendKeyData);
  putInt32(out, pid);
  putInt32(out, key);
  finishMessage(out, at);
}

void appendRowDescription(std::string& out, const std::vector<FieldDescription>& fields) {
  const std::size_t at = beginMessage(out, btag::kRowDescription);
  // Callers describe rows PostgreSQL described to them, so the count fits in an int16
  // (PostgreSQL allows at most 1664 result columns).
  putInt16(out, static_cast<std::int16_t>(fields.size()));
  for (const auto& f : fields) {
    putCString(out, f.name);
    putInt32(out, f.table_oid);
    putInt16(out, f.column_attr);
    putInt32(out, f.type_oid);
    putInt16(out, f.type_size);
    putInt32(out, f.type_modifier);
    putInt16(out, f.format);
  }
  finishMessage(out, at);
}

void appendDataRow(std::string& out, const std::vector<std::optional<std::string>>& values) {
  const std::size_t at = beginMessage(out, btag::kDataRow);
  putInt16(out, static_cast<std::int16_t>(values.size()));  // see appendRowDescription
  for (const auto& value : values) {
    if (!value) {
      putInt32(out, -1);
      continue;
    }
    putInt32(out, static_cast<std::int32_t>(value->size()));
    out.append(*value);
  }
  finishMessage(out, at);
}

void appendCommandComplete(std::string& out, std::string_view tag) {
  const std::size_t at = beginMessage(out, btag::kCommandComplete);
  putCString(out, tag);
  finishMessage(out, at);
}

void appendEmptyQueryResponse(std::string& out) { appendMessage(out, btag::kEmptyQuery, {}); }

void appendSslAnswer(std::string& out, char answer) { out.push_back(answer); }

void appendStartup(std::string& out,
                   const std::vector<std::pair<std::string, std::string>>& params) {
  // Untagged: the length word is the first byte of the packet.
  const std::size_t at = out.size();
  putInt32(out, 0);
  putInt32(out, kProtocolVersion30);
  for (const auto& [name, value] : params) {
    // An empty name would end the list early and turn the rest into a malformed packet.
    if (name.empty()) continue;
    putCString(out, name);
    putCString(out, value);
  }
  out.push_back('\0');
  finishMessage(out, at);
}

void appendCancelRequest(std::string& out, std::int32_t pid, std::int32_t key) {
  putInt32(out, 16);
  putInt32(out, kCancelRequestCode);
  putInt32(out, pid);
  putInt32(out, key);
}

void appendQuery(std::string& out, std::string_view sql) {
  const std::size_t at = beginMessage(out, ftag::kQuery);
  putCString(out, sql);
  finishMessage(out, at);
}

void appendPasswordMessage(std::string& out, std::string_view password) {
  const std::size_t at = beginMessage(out, ftag::kPassword);
  putCString(out, password);
  finishMessage(out, at);
}

void appendSaslInitialResponse(std::string& out, std::string_view mechanism,
                               std::string_view data) {
  const std::size_t at = beginMessage(out, ftag::kPassword);
  putCString(out, mechanism);
  putInt32(out, static_cast<std::int32_t>(data.size()));
  out.append(data);
  finishMessage(out, at);
}

void appendSaslResponse(std::string& out, std::string_view data) {
  appendMessage(out, ftag::kPassword, data);
}

void appendTerminate(std::string& out) { appendMessage(out, ftag::kTerminate, {}); }

}  // namespace tenantwall::protocol
