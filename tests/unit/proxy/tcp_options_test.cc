// configureTcp on a real loopback connection: the kernel holds the options it asked for.
#include "proxy/tcp_options.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>

#include "stream_pair.h"

namespace tenantwall::proxy {
namespace {

int option(tcp::socket& socket, int level, int name) {
  int value = -1;
  socklen_t size = sizeof(value);
  EXPECT_EQ(::getsockopt(socket.native_handle(), level, name, &value, &size), 0);
  return value;
}

// What the kernel holds: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (seconds, probes).
std::array<int, 4> keepaliveOf(tcp::socket& socket) {
  return {option(socket, SOL_SOCKET, SO_KEEPALIVE), option(socket, IPPROTO_TCP, TCP_KEEPIDLE),
          option(socket, IPPROTO_TCP, TCP_KEEPINTVL), option(socket, IPPROTO_TCP, TCP_KEEPCNT)};
}

struct TcpOptionsTest : testing::Test {
  test_support::StreamPair pair;
  tcp::socket& socket = pair.b.lowest_layer();
};

TEST_F(TcpOptionsTest, KeepaliveAsConfiguredAndNoDelay) {
  ASSERT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 0);
  // 1500 ms rounds up to 2 s.
  configureTcp(socket, {.enabled = true, .idle_ms = 30000, .interval_ms = 1500, .count = 3});
  EXPECT_EQ(keepaliveOf(socket), (std::array{1, 30, 2, 3}));
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_NODELAY), 1);
}

// The longest times the configuration accepts are ones the kernel takes.
TEST_F(TcpOptionsTest, TheLongestConfigurableTimesAreSet) {
  configureTcp(socket,
               {.enabled = true, .idle_ms = 32767000, .interval_ms = 3600000, .count = 127});
  EXPECT_EQ(keepaliveOf(socket), (std::array{1, 32767, 3600, 127}));
}

TEST_F(TcpOptionsTest, DisabledKeepaliveIsOff) {
  configureTcp(socket, {.enabled = true});
  ASSERT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 1);
  configureTcp(socket, {.enabled = false});
  EXPECT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_NODELAY), 1);
}

}  // namespace
}  // namespace tenantwall::proxy
