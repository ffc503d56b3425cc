#include "proxy/tcp_options.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace tenantwall::proxy {

void configureTcp(tcp::socket& socket, const TcpKeepaliveConfig& keepalive) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(keepalive.enabled), ignored);
  if (!keepalive.enabled) return;
  // Whole seconds, rounded up, so a configured time is never shortened.
  const auto seconds = [](std::uint32_t ms) { return static_cast<int>((ms + 999) / 1000); };
  const int idle = seconds(keepalive.idle_ms);
  const int interval = seconds(keepalive.interval_ms);
  const int count = static_cast<int>(keepalive.count);
  const int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

}  // namespace tenantwall::proxy
