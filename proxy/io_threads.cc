// One io_context per I/O thread.
#include "proxy/io_threads.h"

#include <thread>

namespace tenantwall::proxy {

IoThreads::IoThreads(unsigned count) {
  if (count == 0) count = 1;
  for (unsigned i = 0; i < count; ++i) {
    contexts_.push_back(std::make_unique<Context>());
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

// A session left on one context may own a socket of another (the accept loop's next socket, a
// TLS backend connection): every context's pending handlers are destroyed first, while every
// context's services still exist, and only then are the contexts destroyed.
IoThreads::~IoThreads() {
  stop();
  guards_.clear();
  for (auto& context : contexts_) context->shutdownServices();
  contexts_.clear();
}

asio::io_context& IoThreads::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoThreads::run() {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i)
    threads.emplace_back([context = contexts_[i].get()] { context->run(); });
  contexts_.front()->run();
  for (auto& t : threads) t.join();
}

void IoThreads::stop() {
  for (auto& context : contexts_) context->stop();
}

bool sameContext(const asio::any_io_executor& a, const asio::any_io_executor& b) {
  return &asio::query(a, asio::execution::context) == &asio::query(b, asio::execution::context);
}

}  // namespace tenantwall::proxy
