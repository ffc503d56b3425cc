// asyncReadDrained, through a plain Stream over real loopback TCP: what it reads, and that a read
// after one that emptied the socket waits for the next arrival instead of first trying a recv
// that finds nothing.
#include "proxy/drained_read.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "proxy/frame_reader.h"
#include "proxy/stream.h"

namespace {
std::atomic<int> watched_socket{-1};
std::atomic<int> recv_calls{0};
}  // namespace

// Asio's reads, counted on one socket: in this test binary this definition takes the place of
// libc's, and makes the same system call.
extern "C" ssize_t recv(int fd, void* buffer, size_t size, int flags) {
  if (fd == watched_socket.load()) ++recv_calls;
  return syscall(SYS_recvfrom, fd, buffer, size, flags, nullptr, nullptr);
}

namespace tenantwall::proxy {
namespace {

struct Pair {
  asio::io_context context;
  Stream a{tcp::socket(context)};
  Stream b{tcp::socket(context)};
  Pair() {
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.lowest_layer().connect(acceptor.local_endpoint());
    tcp::socket accepted(context);
    acceptor.accept(accepted);
    b = Stream(std::move(accepted));
    watched_socket = b.lowest_layer().native_handle();
    recv_calls = 0;
  }
  ~Pair() { watched_socket = -1; }

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

struct Read {
  std::array<char, 64> buffer{};
  std::optional<std::pair<boost::system::error_code, std::size_t>> result;
  std::string text() const { return std::string(buffer.data(), result ? result->second : 0); }
};

void start(Pair& pair, Read& read, std::size_t size = 64) {
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

TEST(DrainedReadTest, AfterAReadEmptiedTheSocketTheNextWaitsWithoutTryingARecv) {
  Pair pair;
  Read first;
  start(pair, first);
  settle(pair);
  ASSERT_FALSE(first.result);  // nothing sent yet
  pair.send("one");
  runUntilDone(pair, first);
  EXPECT_FALSE(first.result->first);
  EXPECT_EQ(first.text(), "one");
  const int after_first = recv_calls.load();

  Read second;
  start(pair, second);
  settle(pair);
  EXPECT_FALSE(second.result);
  // The first read returned fewer bytes than it asked for, so the socket was empty: the second
  // has made no recv yet (Asio's own read tries one at once, which finds nothing).
  EXPECT_EQ(recv_calls.load(), after_first);

  pair.send("two");
  runUntilDone(pair, second);
  EXPECT_FALSE(second.result->first);
  EXPECT_EQ(second.text(), "two");
  EXPECT_EQ(recv_calls.load(), after_first + 1);  // one recv, which found the bytes
}

TEST(DrainedReadTest, BytesThatArriveBetweenReadsAreRead) {
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

TEST(DrainedReadTest, AFullBufferLeavesTheRestForAReadThatTriesAtOnce) {
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

TEST(DrainedReadTest, EndOfFileAndCloseEndTheRead) {
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

TEST(DrainedReadTest, FrameReaderFillsThroughIt) {
  Pair pair;
  FrameReader reader(pair.b, 1024);
  bool filled = false;
  asio::co_spawn(
      pair.context, [&]() -> awaitable<void> { filled = co_await reader.fill(); }, asio::detached);
  settle(pair);
  ASSERT_FALSE(filled);
  pair.send(std::string("S\0\0\0\4", 5));
  pair.context.run();
  pair.context.restart();
  ASSERT_TRUE(filled);
  const int after_first = recv_calls.load();
  filled = false;
  asio::co_spawn(
      pair.context, [&]() -> awaitable<void> { filled = co_await reader.fill(); }, asio::detached);
  settle(pair);
  EXPECT_FALSE(filled);
  EXPECT_EQ(recv_calls.load(), after_first);  // the coroutine waits without a recv
  pair.send(std::string("S\0\0\0\4", 5));
  pair.context.run();
  ASSERT_TRUE(filled);
  EXPECT_EQ(reader.buffered(), 10u);
}

}  // namespace
}  // namespace tenantwall::proxy
