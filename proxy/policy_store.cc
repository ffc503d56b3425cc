// Policy reload: build a new snapshot off to the side, then swap.
#include "proxy/policy_store.h"

#include "policy/loader.h"

namespace tenantwall::proxy {

std::string PolicyStore::reload() {
  // Serialised so two reloads never interleave their version numbers or swap out of order.
  std::lock_guard lock(reload_mutex_);
  try {
    auto loaded = policy::loadPolicyFile(path_, version_.load() + 1);
    auto next = policy::annotateColumns(*loaded, facts_, loaded->version);
    version_.store(next->version);
    current_.store(std::move(next));
    return {};
  } catch (const policy::PolicyLoadError& e) {
    return e.what();
  }
}

bool PolicyStore::applyColumnFacts(policy::ColumnFacts facts) {
  std::lock_guard lock(reload_mutex_);
  if (facts == facts_) return false;
  facts_ = std::move(facts);
  if (const auto running = current_.load()) {
    auto next = policy::annotateColumns(*running, facts_, version_.load() + 1);
    version_.store(next->version);
    current_.store(std::move(next));
  }
  return true;
}

}  // namespace tenantwall::proxy
