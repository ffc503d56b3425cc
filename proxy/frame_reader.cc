// Stream reads for FrameReader; the framing itself is protocol::decodeFrame.
#include "proxy/frame_reader.h"

#include <algorithm>
#include <cstring>

namespace tenantwall::proxy {

void FrameReader::compact() {
  if (start_ == 0) return;
  std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
  end_ -= start_;
  start_ = 0;
}

awaitable<bool> FrameReader::fill() {
  compact();
  constexpr std::size_t kChunk = 64 * 1024;
  if (buffer_.size() - end_ < kChunk) {
    // Grow geometrically; a large message needs its whole body in one buffer.
    const std::size_t size = std::max(buffer_.size() * 2, end_ + kChunk);
    auto bigger = std::make_unique_for_overwrite<char[]>(size);
    if (end_ > 0) std::memcpy(bigger.get(), buffer_.data(), end_);  // data() is null at first
    storage_ = std::move(bigger);
    buffer_ = std::span<char>(storage_.get(), size);
  }
  boost::system::error_code ec;
  const std::size_t n =
      co_await stream_.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                                       asio::redirect_error(use_awaitable, ec));
  if (ec || n == 0) co_return false;
  end_ += n;
  co_return true;
}

std::optional<FrameRead> FrameReader::poll() {
  auto result = protocol::decodeFrame(pending(), max_body_);
  if (result.status == protocol::DecodeStatus::kReady) {
    start_ += result.frame.size;
    return FrameRead{ReadStatus::kOk, result.frame, {}};
  }
  if (result.status == protocol::DecodeStatus::kInvalid)
    return FrameRead{ReadStatus::kInvalid, {}, std::move(result.error)};
  return std::nullopt;
}

awaitable<FrameRead> FrameReader::next() {
  for (;;) {
    if (auto read = poll()) co_return std::move(*read);
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
