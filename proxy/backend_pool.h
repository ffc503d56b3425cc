// The backend connection pool (pool.mode: session): PostgreSQL connections of the service role,
// handed to one client session at a time and reset before the next one gets them.
//
// A pooled connection is reused only by clients whose forwarded startup parameters
// (application_name, DateStyle, ...) are the same, because PostgreSQL's RESET ALL returns a
// setting to its startup-packet value. Before reuse the session sends ROLLBACK and DISCARD ALL
// and ResetCheck verifies the exact answers; anything unexpected closes the connection instead
// of pooling it. Only a connection that owes its client nothing is reset (no answer pending, no
// COPY, no extended-protocol batch without Sync, which PostgreSQL would roll back but a Sync
// would commit); any other is closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/decoder.h"
#include "proxy/asio.h"
#include "proxy/backend_connection.h"
#include "proxy/config.h"
#include "proxy/metrics.h"

namespace tenantwall::proxy {

using StartupParams = std::vector<std::pair<std::string, std::string>>;

// The key under which connections opened with these startup parameters are pooled.
std::string poolKey(const StartupParams& params);

// Which connections exist and which are idle, without any I/O; T is the connection type.
template <typename T>
class PoolBook {
 public:
  using Clock = std::chrono::steady_clock;
  PoolBook(std::size_t size, std::chrono::milliseconds idle_timeout)
      : size_(size), idle_timeout_(idle_timeout) {}

  // What the caller may do next to get a connection for `key`.
  struct Take {
    std::optional<T> idle;    // an idle connection of that key: use it (after checking it)
    bool may_open = false;    // no idle one, but a slot is reserved: open a new one
    std::vector<T> to_close;  // expired or evicted idle connections: close them
  };
  // Takes the most recently used idle connection for key, one for which prefer(connection)
  // holds if there is one; else reserves a slot for a new one, evicting the oldest idle
  // connection of another key if the pool is full; else neither (every connection is in use:
  // wait).
  template <typename Prefer>
  Take take(const std::string& key, Clock::time_point now, const Prefer& prefer) {
    Take out;
    out.to_close = expire(now);
    auto chosen = idle_.rend();
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (it->key != key) continue;
      if (chosen == idle_.rend()) chosen = it;
      if (prefer(it->connection)) {
        chosen = it;
        break;
      }
    }
    if (chosen != idle_.rend()) {
      out.idle = std::move(chosen->connection);
      idle_.erase(std::next(chosen).base());
      ++in_use_;
      return out;
    }
    if (open() >= size_ && !idle_.empty()) {
      out.to_close.push_back(std::move(idle_.front().connection));
      idle_.pop_front();
    }
    if (open() < size_) {
      ++in_use_;
      out.may_open = true;
    }
    return out;
  }
  Take take(const std::string& key, Clock::time_point now) {
    return take(key, now, [](T&) { return false; });
  }
  // An in-use connection comes back clean.
  void put(std::string key, T connection, Clock::time_point now) {
    --in_use_;
    idle_.push_back(Idle{std::move(key), std::move(connection), now});
  }
  // An in-use connection (or a reserved slot whose open failed) is gone.
  void dropped() { --in_use_; }
  // Idle connections older than the idle timeout, removed from the book.
  std::vector<T> expire(Clock::time_point now) {
    std::vector<T> out;
    while (!idle_.empty() && now - idle_.front().since >= idle_timeout_) {
      out.push_back(std::move(idle_.front().connection));
      idle_.pop_front();
    }
    return out;
  }
  std::vector<T> clear() {
    std::vector<T> out;
    for (auto& i : idle_) out.push_back(std::move(i.connection));
    idle_.clear();
    return out;
  }

  std::size_t size() const { return size_; }
  std::size_t inUse() const { return in_use_; }
  std::size_t idle() const { return idle_.size(); }
  std::size_t open() const { return in_use_ + idle_.size(); }

 private:
  struct Idle {
    std::string key;
    T connection;
    Clock::time_point since;
  };
  std::size_t size_;
  std::chrono::milliseconds idle_timeout_;
  std::size_t in_use_ = 0;
  std::deque<Idle> idle_;  // oldest first
};

// Verifies PostgreSQL's answers to the reset request, frame by frame.
class ResetCheck {
 public:
  enum class Verdict { kMore, kClean, kDirty };

  // ROLLBACK (of any transaction the client left open), then DISCARD ALL, which cannot run in a
  // transaction block: prepared statements, portals and cursors, temp tables, settings,
  // advisory locks, LISTEN.
  static std::string request();

  Verdict feed(const protocol::Frame& frame);
  // ParameterStatus values PostgreSQL reported while resetting (DISCARD ALL's RESET ALL).
  const StartupParams& parameters() const { return parameters_; }

 private:
  enum class Phase { kRollback, kDiscard, kDone };
  Phase phase_ = Phase::kRollback;
  bool completed_ = false;  // the current phase's CommandComplete was seen
  StartupParams parameters_;
};

struct PoolStats {
  std::size_t size = 0;
  std::size_t in_use = 0;
  std::size_t idle = 0;
  std::uint64_t waits = 0;
};

// Thread-safe. With pool.mode none, acquire() simply connects and nothing is pooled.
class BackendPool {
 public:
  BackendPool(const PoolConfig& config, Metrics& metrics);
  ~BackendPool();

  bool pooling() const { return config_.mode != PoolMode::kNone; }

  // A connection for a client with these forwarded startup parameters: an idle pooled one, or a
  // new one (counted in the backend metrics). Waits up to backend.connect_timeout_ms when all
  // pool.size connections are in use. The error is meant for logs.
  awaitable<std::expected<BackendConnection, std::string>> acquire(const BackendConfig& backend,
                                                                   const StartupParams& params);
  // A connection that passed ResetCheck, with nothing buffered, goes back to the pool.
  void release(const StartupParams& params, BackendConnection connection);
  // An acquired connection was closed instead (the caller counts backendClosed).
  void dropped();
  // Closes idle connections past pool.idle_timeout_ms; run periodically.
  void expireIdle();
  // Runs expireIdle() every second until the io_context stops.
  awaitable<void> sweep();
  // Closes every idle connection; the server calls it once its io_context has stopped, while
  // the sockets' io_context still exists (the pool outlives it otherwise).
  void closeIdle();

  PoolStats stats() const;

 private:
  void closeAll(std::vector<BackendConnection> connections);

  PoolConfig config_;
  Metrics& metrics_;
  mutable std::mutex mutex_;
  PoolBook<BackendConnection> book_;
  std::uint64_t waits_ = 0;
};

// Whether an idle connection still looks usable: open, and nothing unread (PostgreSQL sends
// nothing to an idle connection unless it is terminating it).
bool idleConnectionHealthy(BackendConnection& connection);

}  // namespace tenantwall::proxy
