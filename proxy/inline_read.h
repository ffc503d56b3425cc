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
//   message instead of two, as a level-triggered poller (PgBouncer's) gets. A short read empties
//   the socket's queue; what it cannot show is a FIN or reset that came with the data, which
//   raises no further event. So the read also asks the reactor to report a peer's FIN
//   (EPOLLRDHUP), and a short read marks the socket exhausted only when the reactor's last events
//   show no FIN, reset or hang-up: one that came before that wait shows there, one that came
//   after it raises an event still to come. (Should the reactor refuse EPOLLRDHUP, Asio's rule:
//   only a read that returns nothing marks the socket exhausted.)
// Otherwise the read is Asio's: the same speculative first try, end of file and errors.
//
// Built on Asio's internal reactor interface as Boost 1.74 has it (epoll); elsewhere it is plain
// async_read_some.
#pragma once

#include <cstdint>
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
#include <sys/epoll.h>
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

// Asio's reactor keeps what this needs private. A pointer to a private member can be named in
// the arguments of an explicit instantiation (access is not checked there), and a protected one
// through a derived class.
template <typename Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type member(Tag) { return Member; }
};
using Descriptor = ad::epoll_reactor::descriptor_state;
struct EpollFd {
  using type = int ad::epoll_reactor::*;
  friend type member(EpollFd);
};
struct RegisteredEvents {
  using type = std::uint32_t Descriptor::*;
  friend type member(RegisteredEvents);
};
struct DescriptorReactor {
  using type = ad::epoll_reactor* Descriptor::*;
  friend type member(DescriptorReactor);
};
struct DescriptorMutex {
  using type = ad::conditionally_enabled_mutex Descriptor::*;
  friend type member(DescriptorMutex);
};
template struct Expose<EpollFd, &ad::epoll_reactor::epoll_fd_>;
template struct Expose<RegisteredEvents, &Descriptor::registered_events_>;
template struct Expose<DescriptorReactor, &Descriptor::reactor_>;
template struct Expose<DescriptorMutex, &Descriptor::mutex_>;

// The events the reactor's last epoll_wait reported for a descriptor, which Asio keeps in the
// descriptor's operation base until the next wait (a private base, hence the C-style cast). Read
// on the thread that runs the reactor: each io_context here has one.
struct ReadyEvents : ad::scheduler_operation {
  static unsigned int last(Descriptor* descriptor) {
    return ((ad::scheduler_operation*)descriptor)->*(&ReadyEvents::task_result_);
  }
};

// Adds EPOLLRDHUP to the descriptor's registration, once per registration (a socket moved to
// another io_context is registered anew). On failure the reads keep Asio's rule.
inline void watchPeerClose(Descriptor* descriptor, int socket) {
  if (descriptor == nullptr) return;
  ad::conditionally_enabled_mutex::scoped_lock lock(descriptor->*member(DescriptorMutex{}));
  std::uint32_t& registered = descriptor->*member(RegisteredEvents{});
  if (registered == 0 || (registered & EPOLLRDHUP) != 0) return;
  epoll_event event{};
  event.events = registered | EPOLLRDHUP;
  event.data.ptr = descriptor;
  const int epoll = descriptor->*member(DescriptorReactor{})->*member(EpollFd{});
  if (::epoll_ctl(epoll, EPOLL_CTL_MOD, socket, &event) == 0) registered = event.events;
}

// The receive operation: Asio's reactive_socket_recv_op for one buffer, with the direct upcall.
template <typename Handler, typename IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(ad::socket_type socket, Descriptor* descriptor, asio::mutable_buffer buffer,
         Handler& handler, const IoExecutor& io_ex)
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
    if (!ad::socket_ops::non_blocking_recv1(op->socket_, op->buffer_.data(), op->buffer_.size(), 0,
                                            true, op->ec_, op->bytes_transferred_))
      return not_done;  // would block: the reactor waits for readiness
    // Nothing read (end of file, an error): exhausted, as Asio. Data: see leftEmpty.
    if (op->bytes_transferred_ == 0) return done_and_exhausted;
    return op->leftEmpty() ? done_and_exhausted : done;
  }

  // Called under the descriptor's lock after a read that returned data: true when that read
  // emptied the socket (it was short) and nothing the reactor saw is left to read.
  bool leftEmpty() const {
    if (bytes_transferred_ >= buffer_.size()) return false;
    if ((descriptor_->*member(RegisteredEvents{}) & EPOLLRDHUP) == 0) return false;
    return (ReadyEvents::last(descriptor_) & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) == 0;
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
  Descriptor* descriptor_;  // the reactor's state for the socket
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
    watchPeerClose(impl.reactor_data_, impl.socket_);
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
