// async_read_some for a plain TCP socket, built on Asio's reactor, that does two things Boost
// 1.74's own read does not:
// - Its completion calls the handler at once when the handler runs on the socket's own executor (a
//   coroutine on the socket's I/O thread), as later Asio versions do. Boost 1.74 wraps every such
//   completion in an allocated function object and dispatches it through a work-tracking copy of
//   the executor, which runs it inline anyway: about a tenth of the proxy's user-space time per
//   transaction. A handler bound to another executor, or a socket on a strand, still completes
//   through that executor.
// - A read that leaves the socket empty tells the reactor so, and the next read waits for the
//   next readiness event instead of first trying a receive that finds nothing: one receive per
//   message instead of two, as a level-triggered poller (PgBouncer's) gets. Empty is what the
//   kernel reports with the data (TCP_INQ: the bytes left, and 1 after a FIN, so an end of file
//   that came with the data is read at once), and a reset the reactor has already seen keeps the
//   next read trying at once. A socket never given reportBytesLeft, or a kernel without TCP_INQ,
//   reads as Asio does: only a read that returns nothing marks the socket exhausted.
// Otherwise the read is Asio's: the same speculative first try, end of file and errors.
//
// Built on Asio's internal reactor interface as Boost 1.74 has it (epoll); elsewhere it is plain
// async_read_some.
#pragma once

#include <cerrno>
#include <cstring>
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
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
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

// The events the reactor's last epoll_wait reported for a descriptor. Asio keeps them in the
// descriptor state's operation base until the next wait: a protected member of a private base,
// hence the member pointer named through a derived class and the C-style cast. A reset that came
// before that wait shows here as EPOLLERR and EPOLLHUP; one that came after it raises an event
// still to come. (Each io_context here is run by one thread, the one that reads this.)
struct ReadyEvents : ad::scheduler_operation {
  static unsigned int last(ad::epoll_reactor::per_descriptor_data descriptor) {
    return ((ad::scheduler_operation*)descriptor)->*(&ReadyEvents::task_result_);
  }
};

// The receive operation: Asio's reactive_socket_recv_op for one buffer, with the direct upcall.
template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(ad::socket_type socket, ad::epoll_reactor::per_descriptor_data descriptor,
         asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(boost::system::error_code(), &RecvOp::perform, &RecvOp::complete),
        socket_(socket),
        descriptor_(descriptor),
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
    iovec iov{op->buffer_.data(), op->buffer_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    for (;;) {
      msghdr message{};
      message.msg_iov = &iov;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof(control);
      const ssize_t n = ::recvmsg(op->socket_, &message, 0);
      if (n > 0) {
        op->ec_ = {};
        op->bytes_transferred_ = static_cast<std::size_t>(n);
        return leftEmpty(message, op->descriptor_) ? done_and_exhausted : done;
      }
      op->bytes_transferred_ = 0;
      if (n == 0) {
        op->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;  // the reactor waits
      op->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
      return done_and_exhausted;
    }
  }

  // True when the kernel reported nothing left to read (no FIN either) and the reactor has seen
  // no reset: whatever comes next raises a new readiness event. Without the report (the socket was
  // not asked), false, as Asio's rule.
  static bool leftEmpty(msghdr& message, ad::epoll_reactor::per_descriptor_data descriptor) {
    if (message.msg_flags & MSG_CTRUNC) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != SOL_TCP || c->cmsg_type != TCP_CM_INQ) continue;
      int left = 0;
      std::memcpy(&left, CMSG_DATA(c), sizeof(left));
      return left == 0 && (ReadyEvents::last(descriptor) & (EPOLLERR | EPOLLHUP)) == 0;
    }
    return false;
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
  ad::epoll_reactor::per_descriptor_data descriptor_;  // the reactor's state for the socket
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
    p.p = new (p.v) Op(impl.socket_, impl.reactor_data_, buffer, h.value, object.get_executor());
    // As Asio's own receive: non-blocking mode first; an empty buffer completes at once.
    (object.get_service().*ServiceAccess::kStartOp)(impl, ad::reactor::read_op, p.p, continuation,
                                                    true, buffer.size() == 0);
    p.v = p.p = nullptr;
  }
};

}  // namespace inline_read_detail
#endif

// Asks the kernel to report, with each read, the bytes left on the socket (Linux TCP_INQ), so a
// read that empties it lets the next read wait for the reactor. Without it reads are still right,
// at one more receive per message. Errors are ignored for that reason.
inline void reportBytesLeft(tcp::socket& socket) {
#ifdef TENANTWALL_INLINE_READ
  const int on = 1;
  ::setsockopt(socket.native_handle(), SOL_TCP, TCP_INQ, &on, sizeof(on));
#else
  (void)socket;
#endif
}

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
