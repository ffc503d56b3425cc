// Pool bookkeeping, the reset check and acquiring connections.
#include "proxy/backend_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "protocol/encoder.h"
#include "protocol/messages.h"
#include "proxy/io_threads.h"

namespace tenantwall::proxy {

std::string poolKey(const StartupParams& params) {
  StartupParams sorted = params;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const auto& [name, value] : sorted) {
    // Values are printable ASCII (startup_params.cc), so NUL separates unambiguously.
    key += name;
    key += '\0';
    key += value;
    key += '\0';
  }
  return key;
}

std::string ResetCheck::request() {
  std::string out;
  protocol::appendQuery(out, "ROLLBACK");
  protocol::appendQuery(out, "DISCARD ALL");
  return out;
}

ResetCheck::Verdict ResetCheck::feed(const protocol::Frame& frame) {
  namespace b = protocol::btag;
  const char tag = frame.tag;
  // Harmless at any point: PostgreSQL may report settings, notices and notifications.
  if (tag == b::kParameterStatus) {
    auto p = protocol::parseParameterStatus(frame.body);
    if (!p) return Verdict::kDirty;
    parameters_.push_back(*p);
    return Verdict::kMore;
  }
  if (tag == b::kNoticeResponse || tag == 'A' /* NotificationResponse */) return Verdict::kMore;
  switch (phase_) {
    case Phase::kRollback:
    case Phase::kDiscard: {
      const std::string_view expected = phase_ == Phase::kRollback ? "ROLLBACK" : "DISCARD ALL";
      if (tag == b::kCommandComplete && !completed_) {
        auto command = protocol::parseCommandComplete(frame.body);
        if (!command || *command != expected) return Verdict::kDirty;
        completed_ = true;
        return Verdict::kMore;
      }
      if (tag == b::kReadyForQuery && completed_) {
        auto status = protocol::parseReadyForQuery(frame.body);
        if (!status || *status != 'I') return Verdict::kDirty;
        completed_ = false;
        phase_ = phase_ == Phase::kRollback ? Phase::kDiscard : Phase::kDone;
        return phase_ == Phase::kDone ? Verdict::kClean : Verdict::kMore;
      }
      return Verdict::kDirty;
    }
    case Phase::kDone:
      return Verdict::kDirty;
  }
  return Verdict::kDirty;
}

bool idleConnectionHealthy(BackendConnection& connection) {
  auto& socket = connection.socket.lowest_layer();
  if (!socket.is_open()) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read and no EOF: alive and quiet. Data or EOF: terminated or desynchronised.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

BackendPool::BackendPool(const PoolConfig& config, Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      book_(config.size, std::chrono::milliseconds(config.idle_timeout_ms)) {}

BackendPool::~BackendPool() { closeIdle(); }

void BackendPool::closeIdle() {
  std::vector<BackendConnection> idle;
  {
    std::lock_guard lock(mutex_);
    idle = book_.clear();
  }
  closeAll(std::move(idle));
}

void BackendPool::closeAll(std::vector<BackendConnection> connections) {
  for (auto& c : connections) {
    boost::system::error_code ignored;
    c.socket.close(ignored);
    metrics_.backendClosed();
  }
}

awaitable<std::expected<BackendConnection, std::string>> BackendPool::acquire(
    const BackendConfig& backend, const StartupParams& params) {
  if (!pooling()) {
    auto opened = co_await connectBackend(backend, params);
    if (opened) metrics_.backendConnected();
    co_return opened;
  }
  const std::string key = poolKey(params);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(backend.connect_timeout_ms);
  bool counted_wait = false;
  std::optional<asio::steady_timer> timer;
  // Best a connection already on this session's I/O thread; a plain one from another thread
  // moves here, so its I/O completes here too.
  const auto here = co_await asio::this_coro::executor;
  for (;;) {
    PoolBook<BackendConnection>::Take take;
    {
      std::lock_guard lock(mutex_);
      take = book_.take(key, std::chrono::steady_clock::now(), [&](BackendConnection& c) {
        return sameContext(c.socket.get_executor(), here);
      });
    }
    closeAll(std::move(take.to_close));
    if (take.idle) {
      if (idleConnectionHealthy(*take.idle)) {
        take.idle->socket.moveTo(here);
        co_return std::move(*take.idle);
      }
      boost::system::error_code ignored;
      take.idle->socket.close(ignored);
      metrics_.backendClosed();
      dropped();
      continue;  // try the next idle one, or open a new one in its slot
    }
    if (take.may_open) {
      auto opened = co_await connectBackend(backend, params);
      if (!opened) {
        dropped();
        co_return opened;
      }
      metrics_.backendConnected();
      co_return opened;
    }
    // Every connection is in use: poll until one comes back or the deadline passes.
    if (!counted_wait) {
      counted_wait = true;
      std::lock_guard lock(mutex_);
      ++waits_;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      co_return std::unexpected("all " + std::to_string(config_.size) +
                                " pooled backend connections stayed in use for " +
                                std::to_string(backend.connect_timeout_ms) + " ms");
    if (!timer) timer.emplace(here);
    timer->expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void BackendPool::release(const StartupParams& params, BackendConnection connection) {
  std::lock_guard lock(mutex_);
  book_.put(poolKey(params), std::move(connection), std::chrono::steady_clock::now());
}

void BackendPool::dropped() {
  if (!pooling()) return;
  std::lock_guard lock(mutex_);
  book_.dropped();
}

void BackendPool::expireIdle() {
  std::vector<BackendConnection> expired;
  {
    std::lock_guard lock(mutex_);
    expired = book_.expire(std::chrono::steady_clock::now());
  }
  closeAll(std::move(expired));
}

awaitable<void> BackendPool::sweep() {
  if (!pooling()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    expireIdle();
  }
}

PoolStats BackendPool::stats() const {
  std::lock_guard lock(mutex_);
  return PoolStats{pooling() ? book_.size() : 0, book_.inUse(), book_.idle(), waits_};
}

}  // namespace tenantwall::proxy
