// Cancel key issuing and look-up.
#include "proxy/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace tenantwall::proxy {
namespace {

std::int32_t randomInt32() {
  std::int32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) v ^= 0x5bd1e995;
  return v;
}

}  // namespace

BackendKey CancelRegistry::add(BackendKey backend) {
  std::lock_guard lock(mutex_);
  for (;;) {
    const std::int32_t pid = randomInt32() & 0x7fffffff;
    if (pid == 0 || by_pid_.contains(pid)) continue;
    const std::int32_t key = randomInt32();
    by_pid_.emplace(pid, Entry{key, backend, 0});
    return BackendKey{pid, key};
  }
}

void CancelRegistry::remove(std::int32_t client_pid) {
  std::lock_guard lock(mutex_);
  by_pid_.erase(client_pid);
}

std::optional<BackendKey> CancelRegistry::find(BackendKey client) const {
  std::lock_guard lock(mutex_);
  auto it = by_pid_.find(client.pid);
  if (it == by_pid_.end()) return std::nullopt;
  if (CRYPTO_memcmp(&it->second.key, &client.key, sizeof client.key) != 0) return std::nullopt;
  if (it->second.backend.pid == 0) return std::nullopt;
  return it->second.backend;
}

bool CancelRegistry::retarget(std::int32_t client_pid, BackendKey backend) {
  std::lock_guard lock(mutex_);
  auto it = by_pid_.find(client_pid);
  if (it == by_pid_.end() || it->second.cancels_in_flight > 0) return false;
  it->second.backend = backend;
  return true;
}

std::optional<BackendKey> CancelRegistry::startCancel(BackendKey client) {
  std::lock_guard lock(mutex_);
  auto it = by_pid_.find(client.pid);
  if (it == by_pid_.end()) return std::nullopt;
  if (CRYPTO_memcmp(&it->second.key, &client.key, sizeof client.key) != 0) return std::nullopt;
  if (it->second.backend.pid == 0) return std::nullopt;
  ++it->second.cancels_in_flight;
  return it->second.backend;
}

void CancelRegistry::cancelDone(std::int32_t client_pid) {
  std::lock_guard lock(mutex_);
  if (auto it = by_pid_.find(client_pid); it != by_pid_.end() && it->second.cancels_in_flight > 0)
    --it->second.cancels_in_flight;
}

}  // namespace tenantwall::proxy
