// Reads whole protocol messages from a stream (plain or TLS) into one growing buffer. A returned
// frame's body points into that buffer and stays valid until the next read call.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "protocol/decoder.h"
#include "proxy/asio.h"
#include "proxy/stream.h"

namespace tenantwall::proxy {

enum class ReadStatus { kOk, kClosed, kInvalid };

struct FrameRead {
  ReadStatus status = ReadStatus::kClosed;
  protocol::Frame frame;
  protocol::PgError error;  // kInvalid
};

struct StartupRead {
  ReadStatus status = ReadStatus::kClosed;
  protocol::StartupPacket packet;
  protocol::PgError error;  // kInvalid
};

class FrameReader {
 public:
  FrameReader(Stream& stream, std::size_t max_body) : stream_(stream), max_body_(max_body) {}

  awaitable<FrameRead> next();
  // The next frame if the buffer already holds it (or holds invalid bytes); nothing when more
  // bytes are needed. Not a coroutine: a batch of buffered messages costs no suspension.
  std::optional<FrameRead> poll();
  awaitable<StartupRead> nextStartup();

  // Bytes already received but not yet returned as frames (for pipelined input).
  std::size_t buffered() const { return end_ - start_; }
  // The raw bytes of complete frames currently buffered, consumed by the caller; used to relay
  // server output in large batches instead of frame by frame.
  std::string_view pending() const {
    return std::string_view(buffer_.data() + start_, end_ - start_);
  }
  void consume(std::size_t n) { start_ += n; }
  // Waits for more bytes from the stream; false when the peer closed or failed.
  awaitable<bool> fill();

 private:
  void compact();

  Stream& stream_;
  std::size_t max_body_;
  // Raw storage: bytes [start_, end_) are unread. Growing never zero-fills what a read overwrites.
  std::unique_ptr<char[]> storage_;
  std::span<char> buffer_;
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

}  // namespace tenantwall::proxy
