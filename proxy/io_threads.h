// The I/O threads: one io_context per thread, so a session's handlers, its backend's and its
// timers all run on the thread that accepted it, with no hand-off between threads and no
// strand. Sessions are spread over the threads in turn.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "proxy/asio.h"

namespace tenantwall::proxy {

class IoThreads {
 public:
  explicit IoThreads(unsigned count);
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;
  ~IoThreads();

  unsigned count() const { return static_cast<unsigned>(contexts_.size()); }
  // The first context: the acceptor, signals, timers and the admin server live on it.
  asio::io_context& main() { return *contexts_.front(); }
  // The context for the next session (round robin). Thread-safe.
  asio::io_context& next();
  // Runs every context, the first on the calling thread, until stop().
  void run();
  // Stops every context; run() returns once each thread has left its handler. Thread-safe.
  void stop();

 private:
  // An io_context whose services can be shut down before any context is destroyed.
  struct Context : asio::io_context {
    Context() : asio::io_context(1) {}  // one thread runs it: Asio may skip waking others
    void shutdownServices() { shutdown(); }
  };
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<Guard> guards_;  // idle threads keep running until stop()
  std::atomic<std::size_t> next_{0};
};

// Whether two executors run on the same io_context.
bool sameContext(const asio::any_io_executor& a, const asio::any_io_executor& b);

}  // namespace tenantwall::proxy
