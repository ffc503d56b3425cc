// Incremental decoding of PostgreSQL v3 protocol framing, both directions, without sockets.
// See PostgreSQL documentation, chapter 55 "Frontend/Backend Protocol", section "Message Formats".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/pg_error.h"

namespace tenantwall::protocol {

// Three-way result: a whole message is ready, more bytes are needed, or the bytes are invalid.
enum class DecodeStatus { kReady, kNeedMore, kInvalid };

inline constexpr std::size_t kMaxStartupPacket = 10000;          // as PostgreSQL's MAX_STARTUP_PACKET_LENGTH
inline constexpr std::size_t kDefaultMaxMessage = 64 * 1024 * 1024;  // bound for any tagged message body

// A tagged message (tag byte, int32 length, body). body points into the caller's buffer.
struct Frame {
  char tag = 0;
  std::string_view body;
  std::size_t size = 0;  // bytes consumed: 1 + 4 + body.size()
};

struct FrameResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  Frame frame;
  PgError error;  // set when status == kInvalid (SQLSTATE 08P01)
};

// Decodes the first tagged message in buf. Never throws; a length below 4 or a body above
// max_body is kInvalid.
FrameResult decodeFrame(std::string_view buf, std::size_t max_body = kDefaultMaxMessage);

enum class StartupKind { kStartup, kSslRequest, kGssEncRequest, kCancelRequest };

struct StartupPacket {
  StartupKind kind = StartupKind::kStartup;
  std::int32_t protocol_version = 0;  // 196608 for 3.0
  std::vector<std::pair<std::string, std::string>> params;  // kStartup: name/value in order
  std::int32_t cancel_pid = 0;                               // kCancelRequest
  std::int32_t cancel_key = 0;                               // kCancelRequest
  // Returns the value of a parameter or an empty string.
  std::string param(std::string_view name) const;
};

struct StartupResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  StartupPacket packet;
  std::size_t consumed = 0;
  PgError error;  // kInvalid: 08P01 (bad length, unterminated strings, duplicate or empty names,
                  // missing "user") or 0A000 (unsupported protocol major version)
};

// Decodes an untagged startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest). Length is bounded by kMaxStartupPacket.
StartupResult decodeStartup(std::string_view buf);

}  // namespace tenantwall::protocol
