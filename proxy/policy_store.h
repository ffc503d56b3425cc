// The only global mutable state: the current policy snapshot, swapped atomically on reload.
// A statement reads the snapshot once and uses it to the end, so it never sees a mix.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "policy/model.h"

namespace tenantwall::proxy {

class PolicyStore {
 public:
  explicit PolicyStore(std::string path) : path_(std::move(path)) {}

  std::shared_ptr<const policy::Policy> current() const { return current_.load(); }
  // Loads and validates the file; on failure the running policy stays and the error is
  // returned (empty string on success).
  std::string reload();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex reload_mutex_;  // SIGHUP, the file watcher and POST /reload may race
  std::atomic<std::shared_ptr<const policy::Policy>> current_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace tenantwall::proxy
