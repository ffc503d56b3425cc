// FrameReader::poll hands out buffered messages without waiting, and Stream::sendNow sends what
// the socket takes at once, over a real loopback TCP connection.
#include "proxy/frame_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "protocol/encoder.h"
#include "proxy/stream.h"
#include "stream_pair.h"

namespace tenantwall::proxy {
namespace {

using Pair = test_support::StreamPair;

std::string message(char tag, std::string_view body) {
  std::string out;
  protocol::appendMessage(out, tag, body);
  return out;
}

// Runs one fill() to completion on the pair's context.
bool fillOnce(Pair& pair, FrameReader& reader) {
  bool filled = false;
  asio::co_spawn(
      pair.context, [&]() -> awaitable<void> { filled = co_await reader.fill(); }, asio::detached);
  pair.context.run();
  pair.context.restart();
  return filled;
}

TEST(FrameReaderTest, PollReturnsBufferedMessagesInOrderAndNothingForAPartialOne) {
  Pair pair;
  FrameReader reader(pair.b, 1024);
  EXPECT_FALSE(reader.poll().has_value());  // nothing read yet
  const std::string first = message('B', "bind"), second = message('E', "exec");
  const std::string third = message('S', "");
  const std::string bytes = first + second + third.substr(0, 3);  // the third cut short
  ASSERT_EQ(pair.a.sendNow(bytes), bytes.size());
  while (reader.buffered() < bytes.size()) ASSERT_TRUE(fillOnce(pair, reader));

  auto one = reader.poll();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->status, ReadStatus::kOk);
  EXPECT_EQ(one->frame.tag, 'B');
  EXPECT_EQ(one->frame.body, "bind");
  auto two = reader.poll();
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->frame.tag, 'E');
  EXPECT_EQ(two->frame.body, "exec");
  EXPECT_FALSE(reader.poll().has_value());  // 3 of the Sync's 5 bytes
  EXPECT_EQ(reader.buffered(), 3u);

  ASSERT_EQ(pair.a.sendNow(third.substr(3)), 2u);
  ASSERT_TRUE(fillOnce(pair, reader));
  auto three = reader.poll();
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->frame.tag, 'S');
  EXPECT_TRUE(three->frame.body.empty());
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReaderTest, PollReportsAnInvalidLengthAndATooLargeMessage) {
  Pair pair;
  FrameReader reader(pair.b, 16);
  const std::string bad_length = std::string("Q\0\0\0\2", 5);
  ASSERT_EQ(pair.a.sendNow(bad_length), bad_length.size());
  while (reader.buffered() < bad_length.size()) ASSERT_TRUE(fillOnce(pair, reader));
  auto read = reader.poll();
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->status, ReadStatus::kInvalid);
  EXPECT_EQ(read->error.sqlstate, "08P01");

  Pair other;
  FrameReader small(other.b, 16);
  const std::string large = message('Q', std::string(17, 'x'));
  ASSERT_EQ(other.a.sendNow(large), large.size());
  while (small.buffered() < 5) ASSERT_TRUE(fillOnce(other, small));
  auto too_large = small.poll();
  ASSERT_TRUE(too_large.has_value());
  EXPECT_EQ(too_large->status, ReadStatus::kInvalid);
  EXPECT_EQ(too_large->error.message, "message too large");
}

TEST(StreamTest, SendNowTakesWhatFitsAndNeverWaits) {
  Pair pair;
  // Nobody reads b: the socket buffers fill up, and sendNow must then return short, not block.
  const std::string chunk(256 * 1024, 'x');
  std::size_t total = 0, sent = 0;
  int rounds = 0;
  do {
    sent = pair.a.sendNow(chunk);
    total += sent;
  } while (sent == chunk.size() && ++rounds < 1000);
  EXPECT_LT(sent, chunk.size());
  EXPECT_GT(total, 0u);
  EXPECT_EQ(pair.a.sendNow(chunk), 0u);  // full: nothing taken, no wait

  // What was taken arrives whole and in order.
  FrameReader reader(pair.b, 1024);
  std::size_t received = 0;
  while (received < total) {
    ASSERT_TRUE(fillOnce(pair, reader));
    received += reader.buffered();
    EXPECT_EQ(reader.pending().find_first_not_of('x'), std::string_view::npos);
    reader.consume(reader.buffered());
  }
  EXPECT_EQ(received, total);
}

TEST(StreamTest, SendNowToAClosedSocketOrAGonePeerTakesNothingAndRaisesNoSignal) {
  Pair pair;
  EXPECT_EQ(pair.a.sendNow(""), 0u);
  boost::system::error_code ignored;
  pair.a.close(ignored);
  EXPECT_EQ(pair.a.sendNow("abc"), 0u);

  // The peer has gone: the kernel may take a first send, the peer's reset makes the next fail.
  // Without MSG_NOSIGNAL that failure would be SIGPIPE and end this test process.
  Pair gone;
  gone.b.close(ignored);
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    refused = gone.a.sendNow("abc") == 0;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace tenantwall::proxy
