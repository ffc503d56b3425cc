// The only global mutable state: the current policy snapshot, swapped atomically on reload.
// A statement reads the snapshot once and uses it to the end, so it never sees a mix.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "policy/column_facts.h"
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
  // New facts about the live schema: the current policy is re-annotated under a new version
  // (later reloads use them too). False when they equal what is already applied.
  bool applyColumnFacts(policy::ColumnFacts facts);

 private:
  std::string path_;
  std::mutex reload_mutex_;  // SIGHUP, the file watcher and POST /reload may race
  std::atomic<std::shared_ptr<const policy::Policy>> current_;
  std::atomic<std::uint64_t> version_{0};
  policy::ColumnFacts facts_;  // guarded by reload_mutex_
};

}  // namespace tenantwall::proxy
