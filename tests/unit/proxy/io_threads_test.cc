// I/O threads: sessions spread over the contexts in turn, and a plain stream moved to another
// context completes its I/O there and nowhere else.
#include "proxy/io_threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "proxy/stream.h"

namespace tenantwall::proxy {
namespace {

TEST(IoThreadsTest, HandsOutEveryContextInTurn) {
  IoThreads threads(3);
  EXPECT_EQ(threads.count(), 3u);
  std::set<asio::io_context*> seen;
  asio::io_context* first = &threads.next();
  seen.insert(first);
  seen.insert(&threads.next());
  seen.insert(&threads.next());
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(&threads.next(), first);
  EXPECT_TRUE(seen.contains(&threads.main()));
  EXPECT_EQ(IoThreads(0).count(), 1u);
}

TEST(IoThreadsTest, SameContextComparesTheContextNotTheExecutorObject) {
  asio::io_context a(1), b(1);
  const asio::any_io_executor a1 = a.get_executor(), a2 = a.get_executor();
  const asio::any_io_executor b1 = b.get_executor();
  EXPECT_TRUE(sameContext(a1, a2));
  EXPECT_FALSE(sameContext(a1, b1));
}

TEST(IoThreadsTest, StopEndsRunEvenWithIdleThreads) {
  IoThreads threads(2);
  std::atomic<bool> ran{false};
  asio::post(threads.next(), [&] { ran = true; });
  asio::post(threads.main(), [&] { asio::post(threads.main(), [&] { threads.stop(); }); });
  std::thread runner([&] { threads.run(); });
  runner.join();  // returns: stop() ended every context although their work guards remain
  EXPECT_TRUE(ran.load());
}

// Two loopback sockets connected to each other, on the given contexts.
std::pair<tcp::socket, tcp::socket> connectedPair(asio::io_context& a, asio::io_context& b) {
  tcp::acceptor acceptor(a, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket left(a);
  left.connect(acceptor.local_endpoint());
  tcp::socket right(b);
  acceptor.accept(right);
  return {std::move(left), std::move(right)};
}

TEST(IoThreadsTest, PendingHandlersOwningSocketsOfOtherContextsEndCleanly) {
  // Each context holds a pending read whose handler owns a socket of the other context, as a
  // session on one thread may own a TLS backend connection of another when the server stops.
  // Destroying one context outright would close the other's socket through freed memory
  // (AddressSanitizer reports it in the sanitizer run of the unit tests).
  auto threads = std::make_unique<IoThreads>(2);
  asio::io_context& zero = threads->main();
  asio::io_context& one = &threads->next() == &zero ? threads->next() : threads->next();
  ASSERT_NE(&zero, &one);
  auto [a0, b1] = connectedPair(zero, one);
  auto [a1, b0] = connectedPair(one, zero);
  // The pending read owns its own socket too, as a coroutine frame does.
  auto read_owning = [](tcp::socket reading, tcp::socket other) {
    auto socket = std::make_shared<tcp::socket>(std::move(reading));
    auto owned = std::make_shared<tcp::socket>(std::move(other));
    auto buffer = std::make_shared<char>();
    socket->async_read_some(asio::buffer(buffer.get(), 1),
                            [socket, owned, buffer](boost::system::error_code, std::size_t) {});
  };
  read_owning(std::move(a0), std::move(b1));  // on zero, owns one's socket
  read_owning(std::move(a1), std::move(b0));  // on one, owns zero's socket
  threads.reset();
}

TEST(StreamMoveTest, APlainStreamMovedToAnotherContextCompletesThere) {
  asio::io_context from(1), to(1);
  tcp::acceptor acceptor(from, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket peer(from);
  peer.connect(acceptor.local_endpoint());
  Stream stream(acceptor.accept());
  ASSERT_TRUE(sameContext(stream.get_executor(), from.get_executor()));

  ASSERT_TRUE(stream.moveTo(from.get_executor()));  // already there: nothing to do
  EXPECT_TRUE(sameContext(stream.get_executor(), from.get_executor()));
  ASSERT_TRUE(stream.moveTo(to.get_executor()));
  EXPECT_TRUE(sameContext(stream.get_executor(), to.get_executor()));
  EXPECT_TRUE(stream.lowest_layer().is_open());

  char buffer[8] = {};
  std::size_t got = 0;
  bool done = false;
  stream.async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, std::size_t n) {
    EXPECT_FALSE(ec) << ec.message();
    got = n;
    done = true;
  });
  asio::write(peer, asio::buffer(std::string("ping")));
  from.run_for(std::chrono::milliseconds(100));  // the old context knows nothing of it
  EXPECT_FALSE(done);
  to.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(done);
  EXPECT_EQ(std::string(buffer, got), "ping");

  // And the other way: what the moved stream writes reaches the peer.
  const std::string pong = "pong";
  bool written = false;
  asio::async_write(stream, asio::buffer(pong), [&](boost::system::error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    written = true;
  });
  to.restart();
  to.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(written);
  char answer[4] = {};
  asio::read(peer, asio::buffer(answer));
  EXPECT_EQ(std::string(answer, 4), "pong");
}

}  // namespace
}  // namespace tenantwall::proxy
