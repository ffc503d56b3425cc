// A connected pair of plain Streams over real loopback TCP, for the proxy's unit tests.
#pragma once

#include <utility>

#include "proxy/stream.h"

namespace tenantwall::proxy::test_support {

struct StreamPair {
  asio::io_context context;
  Stream a{tcp::socket(context)};
  Stream b{tcp::socket(context)};
  StreamPair() {
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.lowest_layer().connect(acceptor.local_endpoint());
    tcp::socket accepted(context);
    acceptor.accept(accepted);
    b = Stream(std::move(accepted));
  }
};

}  // namespace tenantwall::proxy::test_support
