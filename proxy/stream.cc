// TLS handshakes and orderly close for Stream; reads and writes are in the header.
#include "proxy/stream.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include "proxy/io_threads.h"

namespace tenantwall::proxy {
namespace {

// Closes the stream's socket unless the awaiting code finishes within the timeout. The state is
// shared with the timer's handler, which may run after the awaiting frame is gone; the timer
// runs on the coroutine's executor (the session's I/O thread), like every use of the stream.
class Watchdog {
 public:
  Watchdog(const asio::any_io_executor& executor, Stream* stream, std::chrono::milliseconds timeout)
      : state_(std::make_shared<State>(executor, stream)) {
    state_->timer.expires_after(timeout);
    state_->timer.async_wait([state = state_](boost::system::error_code ec) {
      if (ec || state->done) return;
      state->fired = true;
      boost::system::error_code ignored;
      state->stream->close(ignored);
    });
  }
  ~Watchdog() {
    state_->done = true;
    state_->timer.cancel();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool fired() const { return state_->fired; }

 private:
  struct State {
    State(const asio::any_io_executor& executor, Stream* s) : timer(executor), stream(s) {}
    asio::steady_timer timer;
    Stream* stream;
    bool done = false;
    bool fired = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace

awaitable<boost::system::error_code> Stream::handshake(asio::ssl::stream_base::handshake_type type,
                                                       std::chrono::milliseconds timeout) {
  Watchdog watchdog(co_await asio::this_coro::executor, this, timeout);
  boost::system::error_code ec;
  co_await tls_->stream.async_handshake(type, asio::redirect_error(use_awaitable, ec));
  if (watchdog.fired()) ec = asio::error::timed_out;
  co_return ec;
}

awaitable<boost::system::error_code> Stream::handshakeAsServer(
    std::shared_ptr<asio::ssl::context> context, std::chrono::milliseconds timeout) {
  if (tls_) co_return asio::error::already_connected;
  tls_ = std::make_unique<Tls>(std::move(context), std::move(socket_));
  co_return co_await handshake(asio::ssl::stream_base::server, timeout);
}

awaitable<boost::system::error_code> Stream::handshakeAsClient(
    std::shared_ptr<asio::ssl::context> context, const TlsPeerCheck& check,
    std::chrono::milliseconds timeout) {
  if (tls_) co_return asio::error::already_connected;
  tls_ = std::make_unique<Tls>(std::move(context), std::move(socket_));
  SSL* ssl = tls_->stream.native_handle();
  if (!check.sni.empty() && SSL_set_tlsext_host_name(ssl, check.sni.c_str()) != 1)
    co_return asio::error::invalid_argument;
  SSL_set_verify(ssl, check.verify_chain ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (check.verify_chain && !check.host.empty()) {
    // OpenSSL checks the name during the handshake: DNS names against the SAN (CN only when
    // there is no DNS SAN), IP addresses against IP SANs.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    boost::system::error_code not_ip;
    asio::ip::make_address(check.host, not_ip);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = not_ip ? X509_VERIFY_PARAM_set1_host(param, check.host.c_str(), 0)
                          : X509_VERIFY_PARAM_set1_ip_asc(param, check.host.c_str());
    if (ok != 1) co_return asio::error::invalid_argument;
  }
  co_return co_await handshake(asio::ssl::stream_base::client, timeout);
}

awaitable<void> Stream::closeGracefully() {
  boost::system::error_code ignored;
  if (tls_ && lowest_layer().is_open()) {
    SSL* ssl = tls_->stream.native_handle();
    if (SSL_is_init_finished(ssl)) {
      // Marking the peer's close_notify as received makes SSL_shutdown send ours and finish,
      // instead of waiting to read the peer's.
      SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
      Watchdog watchdog(co_await asio::this_coro::executor, this, std::chrono::seconds(2));
      co_await tls_->stream.async_shutdown(asio::redirect_error(use_awaitable, ignored));
    }
  }
  lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  lowest_layer().close(ignored);
}

std::size_t Stream::sendNow(std::string_view bytes) {
  if (tls_ || bytes.empty() || !socket_.is_open()) return 0;
  // MSG_DONTWAIT: non-blocking for this call alone, whatever the socket's own mode.
  const ssize_t sent =
      ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  return sent > 0 ? static_cast<std::size_t>(sent) : 0;
}

bool Stream::moveTo(const asio::any_io_executor& executor) {
  if (sameContext(get_executor(), executor)) return true;
  if (tls_) return false;
  boost::system::error_code ec;
  const auto protocol = socket_.local_endpoint(ec).protocol();
  if (ec) return false;
  const auto handle = socket_.release(ec);
  if (ec) return false;
  socket_ = tcp::socket(executor, protocol, handle);
  return true;
}

}  // namespace tenantwall::proxy
