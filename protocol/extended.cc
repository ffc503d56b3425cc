// Bounds-checked parsing of extended-query frontend messages.
#include "protocol/extended.h"

#include <cstring>

#include "protocol/sqlstate.h"

namespace tenantwall::protocol {
namespace {

PgError malformed(std::string_view what) {
  return makeError(sqlstate::kProtocolViolation, "malformed " + std::string(what) + " message");
}

// A cursor over a message body; every read checks the remaining length.
class Cursor {
 public:
  explicit Cursor(std::string_view body) : rest_(body) {}
  bool cstring(std::string_view& out) {
    const auto nul = rest_.find('\0');
    if (nul == std::string_view::npos) return false;
    out = rest_.substr(0, nul);
    rest_.remove_prefix(nul + 1);
    return true;
  }
  bool int16(std::int16_t& out) {
    if (rest_.size() < 2) return false;
    out = static_cast<std::int16_t>((static_cast<unsigned char>(rest_[0]) << 8) |
                                    static_cast<unsigned char>(rest_[1]));
    rest_.remove_prefix(2);
    return true;
  }
  bool int32(std::int32_t& out) {
    if (rest_.size() < 4) return false;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    out = static_cast<std::int32_t>(v);
    rest_.remove_prefix(4);
    return true;
  }
  bool byte(char& out) {
    if (rest_.empty()) return false;
    out = rest_[0];
    rest_.remove_prefix(1);
    return true;
  }
  bool skip(std::size_t n) {
    if (rest_.size() < n) return false;
    rest_.remove_prefix(n);
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (rest_.size() < n) return false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

void appendInt32(std::string& out, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  out.push_back(static_cast<char>(u >> 24));
  out.push_back(static_cast<char>(u >> 16));
  out.push_back(static_cast<char>(u >> 8));
  out.push_back(static_cast<char>(u));
}

}  // namespace

std::expected<ParseMessage, PgError> parseParse(std::string_view body) {
  Cursor c(body);
  ParseMessage m;
  std::int16_t n = 0;
  if (!c.cstring(m.statement) || !c.cstring(m.query) || !c.int16(n) || n < 0)
    return std::unexpected(malformed("Parse"));
  m.param_types.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::int32_t oid = 0;
    if (!c.int32(oid)) return std::unexpected(malformed("Parse"));
    m.param_types.push_back(oid);
  }
  if (!c.done()) return std::unexpected(malformed("Parse"));
  return m;
}

std::expected<BindTarget, PgError> parseBind(std::string_view body) {
  Cursor c(body);
  BindTarget t;
  std::int16_t formats = 0, params = 0, results = 0;
  if (!c.cstring(t.portal) || !c.cstring(t.statement) || !c.int16(formats) || formats < 0)
    return std::unexpected(malformed("Bind"));
  for (int i = 0; i < formats; ++i) {
    std::int16_t format = 0;
    if (!c.int16(format)) return std::unexpected(malformed("Bind"));
    t.formats.push_back(format);
  }
  if (!c.int16(params) || params < 0) return std::unexpected(malformed("Bind"));
  for (int i = 0; i < params; ++i) {
    std::int32_t len = 0;
    std::string_view value;
    if (!c.int32(len) || len < -1 || (len >= 0 && !c.bytes(static_cast<std::size_t>(len), value)))
      return std::unexpected(malformed("Bind"));
    t.values.push_back(len < 0 ? std::nullopt : std::optional<std::string_view>(value));
  }
  if (!c.int16(results) || results < 0 || !c.skip(2 * static_cast<std::size_t>(results)) ||
      !c.done())
    return std::unexpected(malformed("Bind"));
  return t;
}

std::expected<NamedTarget, PgError> parseDescribeOrClose(std::string_view body) {
  Cursor c(body);
  NamedTarget t;
  if (!c.byte(t.kind) || (t.kind != 'S' && t.kind != 'P') || !c.cstring(t.name) || !c.done())
    return std::unexpected(malformed("Describe/Close"));
  return t;
}

std::expected<ExecuteMessage, PgError> parseExecute(std::string_view body) {
  Cursor c(body);
  ExecuteMessage m;
  if (!c.cstring(m.portal) || !c.int32(m.max_rows) || !c.done())
    return std::unexpected(malformed("Execute"));
  return m;
}

void appendParse(std::string& out, std::string_view statement, std::string_view query,
                 const std::vector<std::int32_t>& param_types) {
  out.push_back('P');
  const std::size_t len = 4 + statement.size() + 1 + query.size() + 1 + 2 + 4 * param_types.size();
  appendInt32(out, static_cast<std::int32_t>(len));
  out.append(statement).push_back('\0');
  out.append(query).push_back('\0');
  out.push_back(static_cast<char>((param_types.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(param_types.size() & 0xff));
  for (auto oid : param_types) appendInt32(out, oid);
}

void appendBoundExecution(std::string& out, std::string_view statement,
                          const std::vector<std::string>& text_values) {
  std::size_t len = 4 + 1 + statement.size() + 1 + 2 + 2 + 2;
  for (const auto& v : text_values) len += 4 + v.size();
  out.push_back('B');
  appendInt32(out, static_cast<std::int32_t>(len));
  out.push_back('\0');  // the unnamed portal
  out.append(statement).push_back('\0');
  out.append("\0\0", 2);  // no parameter format codes: all text
  out.push_back(static_cast<char>((text_values.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(text_values.size() & 0xff));
  for (const auto& v : text_values) {
    appendInt32(out, static_cast<std::int32_t>(v.size()));
    out.append(v);
  }
  out.append("\0\0", 2);  // no result format codes: all text
  out.append("D\0\0\0\x06P\0", 7);
  out.append("E\0\0\0\x09\0\0\0\0\0", 10);
  out.append("S\0\0\0\x04", 5);
}

}  // namespace tenantwall::protocol
