// Maps the cancel keys tenantwall hands to clients onto the real backend keys, so a
// CancelRequest reaches the right PostgreSQL backend and no client can cancel another session.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

namespace tenantwall::proxy {

struct BackendKey {
  std::int32_t pid = 0;
  std::int32_t key = 0;
};

class CancelRegistry {
 public:
  // Issues a fresh random (pid, key) for a session's backend; unregister with the returned pid.
  BackendKey add(BackendKey backend);
  void remove(std::int32_t client_pid);
  // The backend key for a client's (pid, key), compared in constant time; nothing otherwise.
  std::optional<BackendKey> find(BackendKey client) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::int32_t, std::pair<std::int32_t, BackendKey>> by_pid_;  // pid -> (key, backend)
};

}  // namespace tenantwall::proxy
