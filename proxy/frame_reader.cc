// Socket reads for FrameReader; the framing itself is protocol::decodeFrame.
#include "proxy/frame_reader.h"

namespace tenantwall::proxy {

void FrameReader::compact() {
  if (start_ == 0) return;
  buffer_.erase(0, start_);
  start_ = 0;
}

awaitable<bool> FrameReader::fill() {
  compact();
  constexpr std::size_t kChunk = 64 * 1024;
  const std::size_t old = buffer_.size();
  buffer_.resize(old + kChunk);
  boost::system::error_code ec;
  const std::size_t n = co_await socket_.async_read_some(asio::buffer(buffer_.data() + old, kChunk),
                                                         asio::redirect_error(use_awaitable, ec));
  buffer_.resize(old + (ec ? 0 : n));
  co_return !ec && n > 0;
}

awaitable<FrameRead> FrameReader::next() {
  for (;;) {
    auto result = protocol::decodeFrame(pending(), max_body_);
    if (result.status == protocol::DecodeStatus::kReady) {
      start_ += result.frame.size;
      co_return FrameRead{ReadStatus::kOk, result.frame, {}};
    }
    if (result.status == protocol::DecodeStatus::kInvalid)
      co_return FrameRead{ReadStatus::kInvalid, {}, result.error};
    // A frame's body view must survive compaction, so only compact when nothing is returned.
    if (!co_await fill()) co_return FrameRead{ReadStatus::kClosed, {}, {}};
  }
}

awaitable<StartupRead> FrameReader::nextStartup() {
  for (;;) {
    auto result = protocol::decodeStartup(pending());
    if (result.status == protocol::DecodeStatus::kReady) {
      start_ += result.consumed;
      co_return StartupRead{ReadStatus::kOk, std::move(result.packet), {}};
    }
    if (result.status == protocol::DecodeStatus::kInvalid)
      co_return StartupRead{ReadStatus::kInvalid, {}, result.error};
    if (!co_await fill()) co_return StartupRead{ReadStatus::kClosed, {}, {}};
  }
}

}  // namespace tenantwall::proxy
