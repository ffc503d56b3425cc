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
#include <vector>

#include "policy/engine.h"
#include "policy/literal_shape.h"

namespace tenantwall::policy {

// A shared rewrite whose literals all sit in value positions (policy/sql/parameter_literals.h),
// as a statement PostgreSQL can prepare once per connection and run with the literals as text
// parameters: $n is literal n-1 of the shape. Same rewrite, same meaning; no parse or plan per
// run.
struct PreparedForm {
  std::string name;  // preparedStatementName(sql, param_types)
  std::string sql;
  std::vector<std::int32_t> param_types;  // int4 for integers, unspecified (0) for strings
};

// "tw_" and 32 hex digits of SHA-256 over the text and parameter types: statements share a name
// only if PostgreSQL would parse the very same thing.
std::string preparedStatementName(std::string_view sql, const std::vector<std::int32_t>& types);

// A decision with what the audit log records of it, computed once per cache miss.
struct CachedDecision {
  Decision decision;
  std::string redacted_sql;  // literals replaced by $n
  // Of the SQL forwarded, when allowed; empty for a rewrite shared across literals (made per
  // statement: computed only when an audit event needs it).
  std::string rewritten_sha256;
  // Set for a statement decided through a shape with a prepared form: the form and this
  // statement's literals as its text parameter values.
  std::shared_ptr<const PreparedForm> prepared;
  std::vector<std::string> parameters;
};

class DecisionCache {
 public:
  explicit DecisionCache(std::size_t capacity = 4096) : capacity_(capacity) {}

  // Returns the cached decision for this (policy, principal, sql), deciding and caching it
  // on a miss. Thread-safe; the decision itself is computed outside the lock.
  std::shared_ptr<const CachedDecision> decide(const Principal& principal, std::string_view sql,
                                               const Policy& policy);

  std::size_t size() const;
  std::uint64_t hits() const;    // exact text or shape
  std::uint64_t misses() const;  // decided in full

 private:
  // A rewrite shared by the statements of one shape (policy/literal_shape.h): made once from a
  // probe, and only when the probe and the statement that created it are allowed and rewrite
  // the same way with their own literals filled in.
  struct ShapeEntry {
    RewriteTemplate rewrite;
    Allowed allowed;  // sql empty; filled per statement
    std::string redacted_sql;
    std::shared_ptr<const PreparedForm> prepared;  // null unless every literal qualifies
  };
  template <typename V>
  struct Lru {
    using Entry = std::pair<std::string, std::shared_ptr<const V>>;
    std::list<Entry> order;  // most recent first
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index;
    std::shared_ptr<const V> find(const std::string& key);
    void insert(std::string key, std::shared_ptr<const V> value, std::size_t capacity);
  };

  std::shared_ptr<const CachedDecision> fromShape(const Principal& principal, std::string_view sql,
                                                  const Policy& policy, const LiteralShape& shape,
                                                  const std::string& shape_key);
  void learnShape(const Principal& principal, std::string_view sql, const Policy& policy,
                  const LiteralShape& shape, std::string shape_key, CachedDecision& made);

  std::size_t capacity_;
  mutable std::mutex mutex_;
  Lru<CachedDecision> exact_;
  Lru<ShapeEntry> shapes_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

// The cache key: length-prefixed fields, so no two different inputs can produce the same key.
std::string decisionCacheKey(const Principal& principal, std::string_view sql,
                             const Policy& policy);

}  // namespace tenantwall::policy
