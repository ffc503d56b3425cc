// configureTcp on a real loopback connection: the kernel holds the options it asked for.
#include "proxy/tcp_options.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "stream_pair.h"

namespace tenantwall::proxy {
namespace {

int option(tcp::socket& socket, int level, int name) {
  int value = -1;
  socklen_t size = sizeof(value);
  EXPECT_EQ(::getsockopt(socket.native_handle(), level, name, &value, &size), 0);
  return value;
}

TEST(TcpOptionsTest, KeepaliveAsConfiguredAndNoDelay) {
  test_support::StreamPair pair;
  tcp::socket& socket = pair.b.lowest_layer();
  ASSERT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 0);
  configureTcp(socket, TcpKeepaliveConfig{.enabled = true,
                                          .idle_ms = 30000,
                                          .interval_ms = 1500,  // rounds up to 2 s
                                          .count = 3});
  EXPECT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPINTVL), 2);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_NODELAY), 1);
}

// The longest times the configuration accepts are ones the kernel takes.
TEST(TcpOptionsTest, TheLongestConfigurableTimesAreSet) {
  test_support::StreamPair pair;
  tcp::socket& socket = pair.b.lowest_layer();
  configureTcp(socket,
               TcpKeepaliveConfig{
                   .enabled = true, .idle_ms = 32767000, .interval_ms = 3600000, .count = 127});
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPIDLE), 32767);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPINTVL), 3600);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_KEEPCNT), 127);
}

TEST(TcpOptionsTest, DisabledKeepaliveIsOff) {
  test_support::StreamPair pair;
  tcp::socket& socket = pair.b.lowest_layer();
  configureTcp(socket, TcpKeepaliveConfig{.enabled = true});
  ASSERT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 1);
  configureTcp(socket, TcpKeepaliveConfig{.enabled = false});
  EXPECT_EQ(option(socket, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(option(socket, IPPROTO_TCP, TCP_NODELAY), 1);
}

}  // namespace
}  // namespace tenantwall::proxy
