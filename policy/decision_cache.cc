// LRU decision cache.
#include "policy/decision_cache.h"

#include "policy/digest.h"
#include "policy/sql/parser.h"

namespace tenantwall::policy {
namespace {

void field(std::string& key, std::string_view value) {
  key.append(std::to_string(value.size())).push_back(':');
  key.append(value);
}

}  // namespace

std::string decisionCacheKey(const Principal& principal, std::string_view sql,
                             const Policy& policy) {
  std::string key;
  key.reserve(sql.size() + 128);
  field(key, std::to_string(policy.version));
  field(key, policy.hash);
  field(key, principal.tenant);
  field(key, principal.user);
  field(key, principal.role);
  field(key, std::to_string(principal.groups.size()));
  for (const auto& g : principal.groups) field(key, g);
  field(key, std::to_string(principal.attributes.size()));
  for (const auto& [name, value] : principal.attributes) {
    field(key, name);
    field(key, value.list ? "list" : "scalar");
    field(key, std::to_string(value.values.size()));
    for (const auto& v : value.values) field(key, v);
  }
  field(key, sql);
  return key;
}

std::shared_ptr<const CachedDecision> DecisionCache::decide(const Principal& principal,
                                                            std::string_view sql,
                                                            const Policy& policy) {
  std::string key = decisionCacheKey(principal, sql, policy);
  {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->second;
    }
    ++misses_;
  }
  auto made = std::make_shared<CachedDecision>();
  made->decision = policy::decide(principal, sql, policy);
  made->redacted_sql = sql::redactLiterals(sql);
  if (made->decision) made->rewritten_sha256 = sha256Hex(made->decision->sql);
  std::shared_ptr<const CachedDecision> decision = std::move(made);
  std::lock_guard lock(mutex_);
  if (index_.contains(key)) return decision;  // another thread decided the same meanwhile
  lru_.emplace_front(std::move(key), decision);
  index_.emplace(lru_.front().first, lru_.begin());
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return decision;
}

std::size_t DecisionCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

std::uint64_t DecisionCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::uint64_t DecisionCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace tenantwall::policy
