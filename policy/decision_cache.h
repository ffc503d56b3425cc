// A bounded LRU cache of decisions, so a repeated statement skips parse, rewrite and deparse.
// The key holds everything a decision depends on: the policy snapshot (version and hash), the
// whole principal and the exact statement text, so a reload or another principal never reuses
// a rewrite it must not.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policy/engine.h"

namespace tenantwall::policy {

// A decision with what the audit log records of it, computed once per cache miss.
struct CachedDecision {
  Decision decision;
  std::string redacted_sql;      // literals replaced by $n
  std::string rewritten_sha256;  // of the SQL forwarded, when allowed
};

class DecisionCache {
 public:
  explicit DecisionCache(std::size_t capacity = 4096) : capacity_(capacity) {}

  // Returns the cached decision for this (policy, principal, sql), deciding and caching it
  // on a miss. Thread-safe; the decision itself is computed outside the lock.
  std::shared_ptr<const CachedDecision> decide(const Principal& principal, std::string_view sql,
                                               const Policy& policy);

  std::size_t size() const;
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const CachedDecision>>;

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

// The cache key: length-prefixed fields, so no two different inputs can produce the same key.
std::string decisionCacheKey(const Principal& principal, std::string_view sql,
                             const Policy& policy);

}  // namespace tenantwall::policy
