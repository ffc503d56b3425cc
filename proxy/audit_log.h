// The audit log writer: appends hash-chained JSON lines (policy/audit_event.h) to a file from
// its own thread, so sessions never wait on disk; rotates by size and keeps one chain across
// the rotated files.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "policy/audit_event.h"

namespace tenantwall::proxy {

struct AuditConfig;

struct AuditOptions {
  std::string path;
  std::size_t max_bytes = 64 * 1024 * 1024;  // rotate before a line would take the file past it
  unsigned keep = 10;                        // rotated files kept: path.1 (newest) .. path.keep
  std::string hmac_key;                      // empty: plain SHA-256
  bool refuse_on_failure = true;             // what callers do when record() returns false
  std::size_t queue_limit = 100000;          // events waiting for the writer
};

// The options a loaded configuration asks for (path already resolved, key already read).
AuditOptions auditOptions(const AuditConfig& config);

// Reads an HMAC key file: its contents without trailing newline and whitespace, so a key made
// with `openssl rand -hex 32 > key` works. An empty file is an error.
std::expected<std::string, std::string> readAuditKeyFile(const std::string& path);

// Owns the file and the chain. record() and rotateKey() may be called from any thread.
//
// Failures never block or throw on the hot path: a failed write, fsync or rotation, or a full
// queue, makes healthy() false and record() return false until a later write succeeds. The
// writer then first seals an "admin" event with decision "fail" saying how many events were
// lost, so the gap is itself in the chain. A failed write is truncated away, so the file
// always ends with a whole line and the chain never skips a line that is on disk.
class AuditLog {
 public:
  // Creates the file (mode 0600) if missing, or continues the chain from its last line (from
  // path.1's when the file is empty). A last line that is incomplete, not a sealed line, or
  // not sealed with hmac_key (unless it is the key-rotation event) is an error, as are an
  // unwritable path and another process holding the file.
  static std::expected<std::unique_ptr<AuditLog>, std::string> open(AuditOptions options);

  ~AuditLog();  // writes everything queued, then stops the writer
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues the event (fills time if empty) without waiting. False when the event was dropped
  // (queue full) or the log is unhealthy; an unhealthy log still queues, so it can recover.
  // A session that must refuse on failure checks first, so the line says what happened:
  //   if (!audit.healthy() && audit.refuseOnFailure()) { refuse; event.decision = "deny"; }
  //   if (!audit.record(event) && audit.refuseOnFailure()) { ... }  // dropped: queue full
  bool record(policy::AuditEvent event);
  // Queues an "admin" event with reason "audit key rotated" sealed with the current key; every
  // later line is sealed with new_key. Verify with both keys, oldest first
  // (`tenantwall audit verify FILE... --key-file OLD --key-file NEW`).
  void rotateKey(std::string new_key);
  // Waits until every event queued before the call is written (or has failed).
  void flush();

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  bool refuseOnFailure() const { return options_.refuse_on_failure; }
  // Failed writes, fsyncs and rotations, plus events dropped because the queue was full.
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // The hash of the last line on disk: remember it to detect a truncated tail later.
  std::string lastHash() const;
  const std::string& path() const { return options_.path; }

 private:
  struct Item {
    policy::AuditEvent event;
    std::optional<std::string> new_key;  // set for a key rotation
  };

  AuditLog(AuditOptions options, int fd, std::uint64_t size, std::string last_hash);
  void run();
  bool writePending();
  bool writeLine(const std::string& line);
  bool rotate();
  bool reopen();
  void fail();

  const AuditOptions options_;
  // Writer thread only.
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t rotations_ = 0;
  policy::AuditChain chain_;
  std::uint64_t unreported_lost_ = 0;
  std::optional<std::string> pending_key_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;     // the writer: work or stop
  std::condition_variable written_;  // flush(): progress
  std::deque<Item> queue_;
  std::uint64_t queued_ = 0;      // items ever queued
  std::uint64_t done_ = 0;        // items ever taken and processed
  std::uint64_t overflowed_ = 0;  // dropped since the writer last looked
  bool stopping_ = false;
  std::string last_hash_;  // copy for lastHash()

  std::atomic<bool> healthy_{true};
  std::atomic<std::uint64_t> failures_{0};
  std::thread writer_;
};

}  // namespace tenantwall::proxy
