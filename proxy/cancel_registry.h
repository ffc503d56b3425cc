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
  // The backend key for a client's (pid, key), compared in constant time; nothing otherwise,
  // nor while the session holds no backend (pid 0).
  std::optional<BackendKey> find(BackendKey client) const;

  // pool.mode transaction: the session's backend changes between transactions ({} while it
  // holds none). Refused (false) while a cancel found for the session is still being
  // delivered: the old backend may then not go to another client, whose query it would cancel.
  bool retarget(std::int32_t client_pid, BackendKey backend);
  // find(), and the cancel for that backend counts as being sent until cancelDone().
  std::optional<BackendKey> startCancel(BackendKey client);
  void cancelDone(std::int32_t client_pid);

 private:
  struct Entry {
    std::int32_t key = 0;
    BackendKey backend;
    int cancels_in_flight = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::int32_t, Entry> by_pid_;
};

}  // namespace tenantwall::proxy
