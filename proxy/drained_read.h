// async_read_some for a plain TCP socket that tells Asio's reactor when a read emptied the socket.
//
// Asio registers a socket with epoll edge-triggered and tries every new read at once before it
// waits. On request/response traffic that first try finds nothing (the answer is not there yet):
// one failed recv per read, two per transaction through the proxy, about a tenth of the proxy's
// CPU per transaction at 32 clients. A read that returns fewer bytes than it asked for has
// emptied the socket, so the next one can wait for the next readiness event instead: this read
// reports "exhausted" to the reactor (as Asio's own read does only at end of file), and the
// reactor queues the next read without trying it. Every arrival after the emptying read raises a
// new edge, which makes the reactor try again, so no data waits unread.
//
// Built on Asio's internal reactor interface as Boost 1.74 has it (epoll); elsewhere it is plain
// async_read_some.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "proxy/asio.h"

#include <boost/version.hpp>

#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_DISABLE_EPOLL) && !defined(BOOST_ASIO_HAS_IOCP)
#define TENANTWALL_DRAINED_READ 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactive_socket_service.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#endif

namespace tenantwall::proxy {

#ifdef TENANTWALL_DRAINED_READ
namespace drained_read_detail {

namespace ad = asio::detail;

// The receive operation: Asio's reactive_socket_recv_op for one buffer, but a short read counts
// as exhausted.
template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(ad::socket_type socket, asio::mutable_buffer buffer, Handler& handler,
         const IoExecutor& io_ex)
      : ad::reactor_op(boost::system::error_code(), &RecvOp::perform, &RecvOp::complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

 private:
  static status perform(ad::reactor_op* base) {
    auto* op = static_cast<RecvOp*>(base);
    if (!ad::socket_ops::non_blocking_recv1(op->socket_, op->buffer_.data(), op->buffer_.size(), 0,
                                            true, op->ec_, op->bytes_transferred_))
      return not_done;  // would block: the reactor waits for readiness
    if (op->ec_ && op->ec_ != asio::error::eof) return done;
    return op->bytes_transferred_ < op->buffer_.size() ? done_and_exhausted : done;
  }

  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<RecvOp*>(base);
    ptr p = {std::addressof(op->handler_), op, op};
    ad::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // The memory goes back before the upcall, so the handler is moved out first.
    ad::binder2<Handler, boost::system::error_code, std::size_t> handler(op->handler_, op->ec_,
                                                                         op->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block fence(ad::fenced_block::half);
      work.complete(handler, handler.handler_);
    }
  }

  ad::socket_type socket_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

using SocketService = ad::reactive_socket_service<tcp>;

// The socket's implementation and its service's start_op are protected; a pointer to a member,
// named through a derived class, reaches them on any socket or service.
struct SocketAccess : tcp::socket {
  static auto& object(tcp::socket& socket) { return socket.*(&SocketAccess::impl_); }
};
struct ServiceAccess : SocketService {
  static constexpr auto kStartOp = &ServiceAccess::start_op;
};

struct Initiate {
  template <typename Handler>
  void operator()(Handler&& handler, tcp::socket* socket, asio::mutable_buffer buffer) const {
    auto& object = SocketAccess::object(*socket);
    auto& impl = object.get_implementation();
    using Op = RecvOp<std::decay_t<Handler>, tcp::socket::executor_type>;
    ad::non_const_lvalue<Handler> h(handler);
    const bool continuation = boost_asio_handler_cont_helpers::is_continuation(h.value);
    typename Op::ptr p = {std::addressof(h.value), Op::ptr::allocate(h.value), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, h.value, object.get_executor());
    // As Asio's own receive: non-blocking mode first; an empty buffer completes at once.
    (object.get_service().*ServiceAccess::kStartOp)(impl, ad::reactor::read_op, p.p, continuation,
                                                    true, buffer.size() == 0);
    p.v = p.p = nullptr;
  }
};

}  // namespace drained_read_detail
#endif

template <typename Token>
auto asyncReadDrained(tcp::socket& socket, asio::mutable_buffer buffer, Token&& token) {
#ifdef TENANTWALL_DRAINED_READ
  return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      drained_read_detail::Initiate{}, token, &socket, buffer);
#else
  return socket.async_read_some(buffer, std::forward<Token>(token));
#endif
}

}  // namespace tenantwall::proxy
