// A connection that is plain TCP or TLS over TCP. PostgreSQL starts every connection in plain
// text and switches to TLS after SSLRequest, so a Stream starts plain and may start TLS once.
// It is an Asio AsyncReadStream/AsyncWriteStream, so asio::async_write and FrameReader use it
// whichever it is. Plain reads into one buffer go through asyncReadInline (proxy/inline_read.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "proxy/asio.h"  // first: Boost 1.74 needs its include order

#include <boost/asio/ssl.hpp>

#include "proxy/inline_read.h"

namespace tenantwall::proxy {

// How a TLS client checks the server it reaches (PostgreSQL, for backend.tls).
struct TlsPeerCheck {
  bool verify_chain = false;  // the certificate must chain to the context's CAs
  std::string host;           // non-empty: the certificate must name it (DNS name or IP)
  std::string sni;            // non-empty: sent as server name indication
};

class Stream {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket;

  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;

  executor_type get_executor() { return lowest_layer().get_executor(); }
  tcp::socket& lowest_layer() { return tls_ ? tls_->stream.next_layer() : socket_; }

  bool tls() const { return tls_ != nullptr; }
  SSL* tlsHandle() { return tls_ ? tls_->stream.native_handle() : nullptr; }

  // Starts TLS over the connected socket; an error (including the timeout) leaves the stream
  // unusable. The context must stay as it is while the stream uses it (it is kept alive here).
  awaitable<boost::system::error_code> handshakeAsServer(
      std::shared_ptr<asio::ssl::context> context, std::chrono::milliseconds timeout);
  awaitable<boost::system::error_code> handshakeAsClient(
      std::shared_ptr<asio::ssl::context> context, const TlsPeerCheck& check,
      std::chrono::milliseconds timeout);

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_) return tls_->stream.async_read_some(buffers, std::forward<Token>(token));
    if constexpr (std::is_convertible_v<const MutableBuffers&, asio::mutable_buffer>)
      return asyncReadInline(socket_, buffers, std::forward<Token>(token));
    else
      return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->stream.async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  // Sends what the socket takes at once without waiting; returns the bytes sent (0 over TLS, when
  // the socket buffer is full, or on an error, which the asynchronous write that follows reports).
  // A reply usually fits the socket buffer whole, and then the writer never passes through the
  // scheduler.
  std::size_t sendNow(std::string_view bytes);

  // Moves a plain, idle stream (no operation pending) to the executor's io_context, so its I/O
  // completes on that thread; true if it is there now. False for TLS, whose state cannot move:
  // it stays where it is.
  bool moveTo(const asio::any_io_executor& executor);

  // Abrupt: the TCP socket is shut down or closed, pending operations end.
  void shutdown(tcp::socket::shutdown_type what, boost::system::error_code& ec) {
    lowest_layer().shutdown(what, ec);
  }
  void close(boost::system::error_code& ec) { lowest_layer().close(ec); }

  // Orderly end: on TLS, a close_notify alert first (without waiting for the peer's, as
  // PostgreSQL does; bounded by a short timeout), then the socket is closed.
  awaitable<void> closeGracefully();

 private:
  struct Tls {
    Tls(std::shared_ptr<asio::ssl::context> c, tcp::socket s)
        : context(std::move(c)), stream(std::move(s), *context) {}
    std::shared_ptr<asio::ssl::context> context;
    asio::ssl::stream<tcp::socket> stream;
  };

  awaitable<boost::system::error_code> handshake(asio::ssl::stream_base::handshake_type type,
                                                 std::chrono::milliseconds timeout);

  tcp::socket socket_;  // the socket while plain; moved into tls_ when TLS starts
  std::unique_ptr<Tls> tls_;
};

}  // namespace tenantwall::proxy
