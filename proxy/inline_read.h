// async_read_some for a plain TCP socket whose completion calls its handler at once when the
// handler runs on the socket's own executor (a coroutine on the socket's I/O thread), as Asio
// versions after 1.74 do. Boost 1.74 wraps every such completion in an allocated function object
// and dispatches it through a work-tracking copy of the executor, which runs it inline anyway:
// about a tenth of the proxy's user-space time per transaction. Otherwise the read is Asio's
// (the same speculative first try, end of file and errors), and a handler bound to another
// executor, or a socket on a strand, still completes through that executor.
//
// Built on Asio's internal reactor interface as Boost 1.74 has it (epoll); elsewhere it is plain
// async_read_some.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "proxy/asio.h"

#include <boost/version.hpp>

#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_DISABLE_EPOLL) && !defined(BOOST_ASIO_HAS_IOCP)
#define TENANTWALL_INLINE_READ 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_invoke_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactive_socket_service.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#endif

namespace tenantwall::proxy {

#ifdef TENANTWALL_INLINE_READ
namespace inline_read_detail {

namespace ad = asio::detail;

// The receive operation: Asio's reactive_socket_recv_op for one buffer, with the direct upcall.
template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(ad::socket_type socket, asio::mutable_buffer buffer, Handler& handler,
         const IoExecutor& io_ex)
      : ad::reactor_op(boost::system::error_code(), &RecvOp::perform, &RecvOp::complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)) {
    // Inline only where Asio's dispatch would run it inline: the socket's io_context executor.
    if (io_ex.target_type() != typeid(asio::io_context::executor_type) ||
        asio::get_associated_executor(handler_, io_ex) != io_ex)
      work_.emplace(handler_, io_ex);
  }

 private:
  using Work = ad::handler_work<Handler, IoExecutor>;

  static status perform(ad::reactor_op* base) {
    auto* op = static_cast<RecvOp*>(base);
    if (!ad::socket_ops::non_blocking_recv1(op->socket_, op->buffer_.data(), op->buffer_.size(), 0,
                                            true, op->ec_, op->bytes_transferred_))
      return not_done;  // would block: the reactor waits for readiness
    // As Asio: only a read that returned nothing (end of file, an error) marks the socket
    // exhausted. A short read does not prove it empty: a FIN or reset that came with the data
    // raises no new readiness event, so the next read must try at once.
    return op->bytes_transferred_ == 0 ? done_and_exhausted : done;
  }

  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<RecvOp*>(base);
    ptr p = {std::addressof(op->handler_), op, op};
    std::optional<Work> work(std::move(op->work_));
    // The memory goes back before the upcall, so the handler is moved out first.
    ad::binder2<Handler, boost::system::error_code, std::size_t> handler(op->handler_, op->ec_,
                                                                         op->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block fence(ad::fenced_block::half);
      if (work)
        work->complete(handler, handler.handler_);
      else
        boost_asio_handler_invoke_helpers::invoke(handler, handler.handler_);
    }
  }

  ad::socket_type socket_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  std::optional<Work> work_;  // only when the handler is not run inline
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

}  // namespace inline_read_detail
#endif

template <typename Token>
auto asyncReadInline(tcp::socket& socket, asio::mutable_buffer buffer, Token&& token) {
#ifdef TENANTWALL_INLINE_READ
  return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      inline_read_detail::Initiate{}, token, &socket, buffer);
#else
  return socket.async_read_some(buffer, std::forward<Token>(token));
#endif
}

}  // namespace tenantwall::proxy
