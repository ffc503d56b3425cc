// asyncReadInline, through a plain Stream over real loopback TCP: what it reads, that an end of
// file or reset that arrives with the data is still seen, when it lets the next read wait for the
// reactor, and where its handler runs.
#include "proxy/inline_read.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

#include "proxy/frame_reader.h"
#include "proxy/stream.h"
#include "stream_pair.h"

namespace tenantwall::proxy {

#ifdef TENANTWALL_INLINE_READ
namespace inline_read_detail {
// The reactor's private flag: whether a descriptor's next read tries a receive at once.
struct TrySpeculative {
  using type = bool (Descriptor::*)[asio::detail::epoll_reactor::max_ops];
  friend type member(TrySpeculative);
};
template struct Expose<TrySpeculative, &Descriptor::try_speculative_>;
}  // namespace inline_read_detail
#endif

namespace {

struct Pair : test_support::StreamPair {
  // Sends from a and waits until b's socket holds the bytes (a loopback send normally delivers
  // before it returns; this makes the tests independent of that).
  void send(std::string_view bytes) {
    const std::size_t before = b.lowest_layer().available();
    ASSERT_EQ(a.sendNow(bytes), bytes.size());
    for (int i = 0; i < 2000 && b.lowest_layer().available() < before + bytes.size(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(b.lowest_layer().available(), before + bytes.size());
  }
};

#ifdef TENANTWALL_INLINE_READ
// Whether the socket's next read tries a receive at once, or waits for the reactor's next event:
// Asio's private per-descriptor flag, reached as inline_read.h reaches the others.
using inline_read_detail::Descriptor;

Descriptor* descriptorOf(Stream& stream) {
  return inline_read_detail::SocketAccess::object(stream.lowest_layer())
      .get_implementation()
      .reactor_data_;
}

bool nextReadTriesAtOnce(Stream& stream) {
  return (
      descriptorOf(stream)
          ->*member(inline_read_detail::TrySpeculative{}))[asio::detail::epoll_reactor::read_op];
}

bool watchesPeerClose(Stream& stream) {
  return (descriptorOf(stream)->*member(inline_read_detail::RegisteredEvents{}) & EPOLLRDHUP) != 0;
}
#endif

struct Read {
  std::array<char, 64> buffer{};
  std::optional<std::pair<boost::system::error_code, std::size_t>> result;
  std::string text() const { return std::string(buffer.data(), result ? result->second : 0); }
};

// Reads into the first size bytes of read's buffer (all of it by default).
void start(Pair& pair, Read& read, std::size_t size = std::tuple_size_v<decltype(Read::buffer)>) {
  pair.b.async_read_some(
      asio::buffer(read.buffer.data(), size),
      [&read](boost::system::error_code ec, std::size_t n) { read.result.emplace(ec, n); });
}

// Runs handlers that are ready and the reactor's events that are there, without waiting.
void settle(Pair& pair) {
  pair.context.poll();
  pair.context.restart();
}

void runUntilDone(Pair& pair, Read& read) {
  while (!read.result) {
    ASSERT_NE(pair.context.run_one_for(std::chrono::seconds(5)), 0u) << "the read never ended";
  }
  pair.context.restart();
}

TEST(InlineReadTest, ReadsWhatArrivesInOrder) {
  Pair pair;
  Read first;
  start(pair, first);
  settle(pair);
  ASSERT_FALSE(first.result);  // nothing sent yet
  pair.send("one");
  runUntilDone(pair, first);
  EXPECT_FALSE(first.result->first);
  EXPECT_EQ(first.text(), "one");
  Read second;
  start(pair, second);
  settle(pair);
  EXPECT_FALSE(second.result);
  pair.send("two");
  runUntilDone(pair, second);
  EXPECT_EQ(second.text(), "two");
}

// The data and the FIN are both in the socket when the read runs: one readiness event for both.
// A read that took the short read for an empty socket would wait for an event that never comes.
TEST(InlineReadTest, AnEndOfFileThatCameWithTheDataIsSeen) {
  Pair pair;
  Read waiting;
  start(pair, waiting);
  settle(pair);
  ASSERT_FALSE(waiting.result);
  ASSERT_EQ(pair.a.sendNow("last words"), 10u);
  boost::system::error_code ignored;
  pair.a.shutdown(tcp::socket::shutdown_send, ignored);
  // Both arrive before the reactor looks.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runUntilDone(pair, waiting);
  EXPECT_EQ(waiting.text(), "last words");
  Read eof;
  start(pair, eof);
  runUntilDone(pair, eof);
  EXPECT_EQ(eof.result->first, asio::error::eof);
}

TEST(InlineReadTest, AResetThatCameWithTheDataIsSeen) {
  Pair pair;
  Read waiting;
  start(pair, waiting);
  settle(pair);
  ASSERT_FALSE(waiting.result);
  ASSERT_EQ(pair.a.sendNow("then gone"), 9u);
  // Unread data on a's side makes its close a reset.
  ASSERT_EQ(pair.b.sendNow("unread"), 6u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  boost::system::error_code ignored;
  pair.a.close(ignored);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  runUntilDone(pair, waiting);
  // The data first and then the reset, or the reset at once (the kernel may drop the data).
  Read next;
  const bool data_first = !waiting.result->first;
  if (data_first) {
    EXPECT_EQ(waiting.text(), "then gone");
    start(pair, next);
    runUntilDone(pair, next);
  }
  EXPECT_TRUE((data_first ? next : waiting).result->first) << "the reset was not reported";
}

TEST(InlineReadTest, BytesThatArriveBetweenReadsAreRead) {
  Pair pair;
  Read first;
  pair.send("first");
  start(pair, first);
  runUntilDone(pair, first);
  ASSERT_EQ(first.text(), "first");

  // Sent before the next read starts, and the reactor has not looked yet.
  pair.send("before");
  Read second;
  start(pair, second);
  runUntilDone(pair, second);
  EXPECT_EQ(second.text(), "before");

  // Sent before the next read starts, and the reactor saw the arrival with no read waiting.
  pair.send("seen");
  settle(pair);
  Read third;
  start(pair, third);
  runUntilDone(pair, third);
  EXPECT_EQ(third.text(), "seen");
}

TEST(InlineReadTest, AFullBufferLeavesTheRestForAReadThatTriesAtOnce) {
  Pair pair;
  pair.send("abcdefgh");
  Read first;
  start(pair, first, 4);
  runUntilDone(pair, first);
  EXPECT_EQ(first.text(), "abcd");
  Read second;
  start(pair, second, 4);
  runUntilDone(pair, second);
  EXPECT_EQ(second.text(), "efgh");
}

TEST(InlineReadTest, EndOfFileAndCloseEndTheRead) {
  Pair pair;
  Read first;
  pair.send("last");
  start(pair, first);
  runUntilDone(pair, first);
  ASSERT_EQ(first.text(), "last");
  boost::system::error_code ignored;
  pair.a.shutdown(tcp::socket::shutdown_send, ignored);
  Read eof;
  start(pair, eof);
  runUntilDone(pair, eof);
  EXPECT_EQ(eof.result->first, asio::error::eof);
  EXPECT_EQ(eof.result->second, 0u);

  Pair other;
  Read waiting;
  start(other, waiting);
  settle(other);
  ASSERT_FALSE(waiting.result);
  other.b.close(ignored);
  runUntilDone(other, waiting);
  EXPECT_EQ(waiting.result->first, asio::error::operation_aborted);
}

TEST(InlineReadTest, AHandlerBoundToAnotherExecutorRunsThereNotInline) {
  Pair pair;
  asio::io_context other;
  Read read;
  pair.b.async_read_some(
      asio::buffer(read.buffer.data(), read.buffer.size()),
      asio::bind_executor(other, [&read](boost::system::error_code ec, std::size_t n) {
        read.result.emplace(ec, n);
      }));
  pair.send("elsewhere");
  pair.context.run();  // the read completes here and hands its handler to the other context
  EXPECT_FALSE(read.result);
  other.run();
  ASSERT_TRUE(read.result);
  EXPECT_EQ(read.text(), "elsewhere");
}

TEST(InlineReadTest, ASocketOnAStrandCompletesThroughTheStrand) {
  Pair pair;
  auto strand = asio::make_strand(pair.context);
  Stream b(tcp::socket(strand, tcp::v4(), pair.b.lowest_layer().release()));
  Read read;
  bool on_strand = false;
  b.async_read_some(asio::buffer(read.buffer.data(), read.buffer.size()),
                    [&](boost::system::error_code ec, std::size_t n) {
                      on_strand = strand.running_in_this_thread();
                      read.result.emplace(ec, n);
                    });
  ASSERT_EQ(pair.a.sendNow("serial"), 6u);
  runUntilDone(pair, read);
  EXPECT_EQ(read.text(), "serial");
  EXPECT_TRUE(on_strand);
}

#ifdef TENANTWALL_INLINE_READ
// The receive that would find nothing is skipped: after a read that emptied the socket the next
// read waits for the reactor, and still gets what comes.
TEST(InlineReadTest, AReadThatEmptiesTheSocketLetsTheNextWaitForTheReactor) {
  Pair pair;
  for (std::string_view message : {"one", "two", "three"}) {
    Read read;
    start(pair, read);
    settle(pair);
    ASSERT_FALSE(read.result);
    pair.send(message);
    runUntilDone(pair, read);
    EXPECT_EQ(read.text(), message);
    EXPECT_FALSE(nextReadTriesAtOnce(pair.b)) << message;
  }
}

TEST(InlineReadTest, BytesLeftOrAnEndOfFileKeepTheNextReadTryingAtOnce) {
  Pair pair;
  Read part;
  start(pair, part, 4);  // waiting when the bytes come, so the reactor's event is spent on it
  settle(pair);
  ASSERT_FALSE(part.result);
  pair.send("abcdefgh");
  runUntilDone(pair, part);
  ASSERT_EQ(part.text(), "abcd");
  EXPECT_TRUE(nextReadTriesAtOnce(pair.b));
  Read rest;
  start(pair, rest);
  runUntilDone(pair, rest);
  ASSERT_EQ(rest.text(), "efgh");
  EXPECT_FALSE(nextReadTriesAtOnce(pair.b));

  ASSERT_EQ(pair.a.sendNow("bye"), 3u);
  boost::system::error_code ignored;
  pair.a.shutdown(tcp::socket::shutdown_send, ignored);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Read last;
  start(pair, last);
  runUntilDone(pair, last);
  ASSERT_EQ(last.text(), "bye");
  EXPECT_TRUE(nextReadTriesAtOnce(pair.b));
}

// Moved to another io_context, a socket is registered anew there: its first read asks for the
// peer's FIN again, and an end of file that comes with the data is still seen.
TEST(InlineReadTest, ASocketMovedToAnotherContextStillSeesAnEndOfFileWithTheData) {
  asio::io_context other;  // outlives the pair, whose socket ends up on it
  Pair pair;
  Read first;
  pair.send("here");
  start(pair, first);
  runUntilDone(pair, first);
  ASSERT_TRUE(watchesPeerClose(pair.b));
  ASSERT_TRUE(pair.b.moveTo(other.get_executor()));
  EXPECT_FALSE(watchesPeerClose(pair.b));  // a new registration, as Asio makes it
  ASSERT_EQ(pair.a.sendNow("there"), 5u);
  boost::system::error_code ignored;
  pair.a.shutdown(tcp::socket::shutdown_send, ignored);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Read moved;
  pair.b.async_read_some(
      asio::buffer(moved.buffer),
      [&moved](boost::system::error_code ec, std::size_t n) { moved.result.emplace(ec, n); });
  EXPECT_TRUE(watchesPeerClose(pair.b));
  ASSERT_EQ(other.run_one_for(std::chrono::seconds(5)), 1u);
  ASSERT_TRUE(moved.result);
  EXPECT_EQ(moved.text(), "there");
  Read eof;
  pair.b.async_read_some(
      asio::buffer(eof.buffer),
      [&eof](boost::system::error_code ec, std::size_t n) { eof.result.emplace(ec, n); });
  other.restart();
  ASSERT_NE(other.run_one_for(std::chrono::seconds(5)), 0u) << "the end of file was not seen";
  ASSERT_TRUE(eof.result);
  EXPECT_EQ(eof.result->first, asio::error::eof);
}
#endif

// One FrameReader::fill that waits until bytes are sent, then gets them.
void fillAfterSend(Pair& pair, FrameReader& reader, std::string_view bytes) {
  bool filled = false;
  asio::co_spawn(
      pair.context, [&]() -> awaitable<void> { filled = co_await reader.fill(); }, asio::detached);
  settle(pair);
  ASSERT_FALSE(filled);
  pair.send(bytes);
  pair.context.run();
  pair.context.restart();
  ASSERT_TRUE(filled);
}

TEST(InlineReadTest, FrameReaderFillsThroughIt) {
  Pair pair;
  FrameReader reader(pair.b, 1024);
  const std::string sync("S\0\0\0\4", 5);
  fillAfterSend(pair, reader, sync);
  fillAfterSend(pair, reader, sync);
  EXPECT_EQ(reader.buffered(), 10u);
}

}  // namespace
}  // namespace tenantwall::proxy
