// The socket options every proxied TCP connection gets, on the client side and the backend side.
#pragma once

#include "proxy/asio.h"
#include "proxy/config.h"

namespace tenantwall::proxy {

// No Nagle delay (the proxy writes whole messages) and keepalive as configured. Failures are
// ignored: the connection still works without them.
void configureTcp(tcp::socket& socket, const TcpKeepaliveConfig& keepalive);

}  // namespace tenantwall::proxy
