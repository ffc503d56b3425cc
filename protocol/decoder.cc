// Incremental framing of tagged messages and startup-phase packets; every length is checked.
#include "protocol/decoder.h"

#include <algorithm>
#include <expected>
#include <string>

#include "protocol/sqlstate.h"

namespace tenantwall::protocol {
namespace {

// Request codes that share the startup packet's slot (PostgreSQL documentation 55.7,
// "CancelRequest", "SSLRequest", "GSSENCRequest").
constexpr std::uint32_t kCancelRequestCode = 80877102;
constexpr std::uint32_t kSslRequestCode = 80877103;
constexpr std::uint32_t kGssEncRequestCode = 80877104;
constexpr std::size_t kCancelRequestLength = 16;
constexpr std::size_t kNegotiationRequestLength = 8;
constexpr std::size_t kMinStartupPacket = 8;  // length word and protocol/request code
constexpr std::uint32_t kSupportedMajor = 3;

// Big-endian, read as unsigned so a negative length on the wire cannot sign-extend into a
// size; callers bound-check before calling.
std::uint32_t readUint32(std::string_view buf, std::size_t at) {
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(buf[at + i]));
  };
  return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

// Every framing failure ends the connection, so it is FATAL as in PostgreSQL.
PgError protocolViolation(std::string message) {
  return makeFatal(sqlstate::kProtocolViolation, std::move(message));
}

StartupResult invalidStartup(PgError error) {
  StartupResult result;
  result.status = DecodeStatus::kInvalid;
  result.error = std::move(error);
  return result;
}

// Parses the name/value pairs of a StartupMessage after the protocol version, following
// PostgreSQL's ProcessStartupPacket: pairs of C strings, then one NUL as the very last byte.
std::expected<std::vector<std::pair<std::string, std::string>>, PgError> parseStartupParams(
    std::string_view rest) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t name_end = rest.find('\0', pos);
    if (name_end == std::string_view::npos)
      return std::unexpected(
          protocolViolation("invalid startup packet layout: expected terminator as last byte"));
    if (name_end == pos) {
      // An empty name is the list terminator; anything after it is a malformed packet.
      if (name_end + 1 != rest.size())
        return std::unexpected(
            protocolViolation("invalid startup packet layout: expected terminator as last byte"));
      break;
    }
    std::string name(rest.substr(pos, name_end - pos));
    const std::size_t value_start = name_end + 1;
    const std::size_t value_end = rest.find('\0', value_start);
    if (value_end == std::string_view::npos)
      return std::unexpected(protocolViolation("invalid startup packet layout: value of \"" + name +
                                               "\" is not terminated"));
    // A repeated name would let a client show one value to the policy and another to
    // PostgreSQL (which keeps the last), so it is refused outright.
    const bool duplicate =
        std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
    if (duplicate)
      return std::unexpected(protocolViolation("duplicate startup parameter \"" + name + "\""));
    params.emplace_back(std::move(name),
                        std::string(rest.substr(value_start, value_end - value_start)));
    pos = value_end + 1;
  }
  return params;
}

}  // namespace

std::string StartupPacket::param(std::string_view name) const {
  for (const auto& [key, value] : params)
    if (key == name) return value;
  return {};
}

FrameResult decodeFrame(std::string_view buf, std::size_t max_body) {
  FrameResult result;
  constexpr std::size_t kHeader = 5;  // tag byte and int32 length
  if (buf.size() < kHeader) return result;
  const std::uint32_t length = readUint32(buf, 1);
  // The length counts itself; above INT32_MAX it is negative on the wire.
  if (length < 4 || length > 0x7fffffffu) {
    result.status = DecodeStatus::kInvalid;
    result.error = protocolViolation("invalid message length");
    return result;
  }
  const std::size_t body_size = length - 4;
  if (body_size > max_body) {
    result.status = DecodeStatus::kInvalid;
    result.error = protocolViolation("message too large");
    return result;
  }
  if (buf.size() - kHeader < body_size) return result;
  result.status = DecodeStatus::kReady;
  result.frame.tag = buf[0];
  result.frame.body = buf.substr(kHeader, body_size);
  result.frame.size = kHeader + body_size;
  return result;
}

StartupResult decodeStartup(std::string_view buf) {
  if (buf.size() < 4) return {};
  const std::uint32_t length = readUint32(buf, 0);
  if (length < kMinStartupPacket || length > kMaxStartupPacket)
    return invalidStartup(protocolViolation("invalid length of startup packet"));
  if (buf.size() < length) return {};

  const std::string_view packet = buf.substr(0, length);
  const std::uint32_t code = readUint32(packet, 4);
  StartupResult result;
  result.consumed = length;
  result.packet.protocol_version = static_cast<std::int32_t>(code);

  switch (code) {
    case kCancelRequestCode:
      if (length != kCancelRequestLength)
        return invalidStartup(protocolViolation("invalid length of cancel request packet"));
      result.packet.kind = StartupKind::kCancelRequest;
      result.packet.cancel_pid = static_cast<std::int32_t>(readUint32(packet, 8));
      result.packet.cancel_key = static_cast<std::int32_t>(readUint32(packet, 12));
      result.status = DecodeStatus::kReady;
      return result;
    case kSslRequestCode:
    case kGssEncRequestCode:
      // Stricter than PostgreSQL, which ignores extra bytes: real clients send exactly 8.
      if (length != kNegotiationRequestLength)
        return invalidStartup(protocolViolation("invalid length of encryption request packet"));
      result.packet.kind =
          code == kSslRequestCode ? StartupKind::kSslRequest : StartupKind::kGssEncRequest;
      result.status = DecodeStatus::kReady;
      return result;
    default:
      break;
  }

  const std::uint32_t major = code >> 16;
  const std::uint32_t minor = code & 0xffffu;
  if (major != kSupportedMajor)
    return invalidStartup(makeFatal(sqlstate::kFeatureNotSupported,
                                    "unsupported frontend protocol " + std::to_string(major) + "." +
                                        std::to_string(minor) + ": server supports 3.0 to 3.0"));
  // A 3.x minor above 0 is served as 3.0; protocol_version keeps what the client asked for,
  // so the caller may answer with NegotiateProtocolVersion.

  auto params = parseStartupParams(packet.substr(8));
  if (!params) return invalidStartup(std::move(params.error()));
  result.packet.kind = StartupKind::kStartup;
  result.packet.params = std::move(*params);
  // The header contract keeps every startup refusal under 08P01 (PostgreSQL itself uses 28000
  // for a missing user name).
  if (result.packet.param("user").empty())
    return invalidStartup(protocolViolation("no PostgreSQL user name specified in startup packet"));
  result.status = DecodeStatus::kReady;
  return result;
}

}  // namespace tenantwall::protocol
