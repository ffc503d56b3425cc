// The audit log writer thread: sealing, appending, fsync, size rotation and failure recovery.
#include "proxy/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "proxy/config.h"

namespace tenantwall::proxy {
namespace {

// While events are known lost or a key rotation is pending, the writer retries this often
// even without new events, so the gap is recorded as soon as the disk allows.
constexpr auto kRetryDelay = std::chrono::milliseconds(200);

std::string errnoText() { return std::strerror(errno); }

std::string rotatedName(const std::string& path, unsigned n) {
  return path + "." + std::to_string(n);
}

// fsync of the directory, so a created or renamed file survives a crash with its name.
bool syncDirectory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// The last line of the file (without its newline), "" for an empty file. A file that does not
// end with a newline ends with a line the writer never finished, which is an error.
std::expected<std::string, std::string> readLastLine(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::unexpected(path + ": " + errnoText());
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) return std::string();
  std::string tail;  // the bytes from some offset to the end, grown backwards
  std::uint64_t offset = size;
  constexpr std::uint64_t kChunk = 64 * 1024;
  while (true) {
    const std::uint64_t length = std::min<std::uint64_t>(kChunk, offset);
    offset -= length;
    std::string chunk(length, '\0');
    std::size_t got = 0;
    while (got < length) {
      const ssize_t n =
          ::pread(fd, chunk.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(path + ": cannot read: " + errnoText());
      got += static_cast<std::size_t>(n);
    }
    tail.insert(0, chunk);
    if (tail.back() != '\n')
      return std::unexpected(path +
                             ": the last line is incomplete (no newline: the writer stopped "
                             "mid-line); check the file with `tenantwall audit verify` and "
                             "remove the partial line");
    const auto newline = tail.find_last_of('\n', tail.size() - 2);
    if (newline != std::string::npos) return tail.substr(newline + 1, tail.size() - newline - 2);
    if (offset == 0) return tail.substr(0, tail.size() - 1);
  }
}

// Where the chain of an existing file ends, checked against the key we will continue with.
std::expected<std::string, std::string> chainEnd(int fd, const std::string& path,
                                                 const std::string& key) {
  auto line = readLastLine(fd, path);
  if (!line) return std::unexpected(line.error());
  if (line->empty()) return std::string();
  auto parsed = policy::parseSealedLine(*line);
  if (!parsed) return std::unexpected(path + ": last line: " + parsed.error());
  // A key-rotation event is sealed with the key before ours, so it cannot be checked here.
  if (!parsed->keyRotation() && !policy::sealMatches(*line, *parsed, key))
    return std::unexpected(path +
                           ": the last line is not sealed with the configured audit key (was "
                           "the key changed? rotate keys at run time, or move the log aside "
                           "to start a new chain)");
  return parsed->hash;
}

int openForAppend(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot open audit log " + path + ": " + errnoText();
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = "audit log " + path + " is not a regular file";
    ::close(fd);
    return -1;
  }
  // Two writers would fork the chain; the lock is released when the descriptor closes.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    error = "audit log " + path + " is in use by another process";
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint64_t fileSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

AuditOptions auditOptions(const AuditConfig& config) {
  AuditOptions options;
  options.path = config.path;
  options.max_bytes = config.max_bytes;
  options.keep = config.keep;
  options.hmac_key = config.hmac_key;
  options.refuse_on_failure = config.refuse_on_failure;
  return options;
}

std::expected<std::string, std::string> readAuditKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read audit key file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  if (key.empty()) return std::unexpected("audit key file " + path + " is empty");
  return key;
}

std::expected<std::unique_ptr<AuditLog>, std::string> AuditLog::open(AuditOptions options) {
  if (options.path.empty()) return std::unexpected("audit log path is empty");
  std::string error;
  const int fd = openForAppend(options.path, error);
  if (fd < 0) return std::unexpected(error);
  auto last = chainEnd(fd, options.path, options.hmac_key);
  if (last && last->empty()) {
    // An empty file after a rotation (or a crash just after one) continues path.1's chain.
    const std::string previous = rotatedName(options.path, 1);
    if (const int old = ::open(previous.c_str(), O_RDONLY | O_CLOEXEC); old >= 0) {
      last = chainEnd(old, previous, options.hmac_key);
      ::close(old);
    }
  }
  if (!last) {
    ::close(fd);
    return std::unexpected(last.error());
  }
  if (last->empty()) *last = policy::kGenesis;
  syncDirectory(options.path);
  const std::uint64_t size = fileSize(fd);
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(options), fd, size, std::move(*last)));
}

AuditLog::AuditLog(AuditOptions options, int fd, std::uint64_t size, std::string last_hash)
    : options_(std::move(options)),
      fd_(fd),
      size_(size),
      chain_(options_.hmac_key, last_hash),
      last_hash_(std::move(last_hash)) {
  writer_ = std::thread([this] { run(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

bool AuditLog::record(policy::AuditEvent event) {
  if (event.time.empty()) event.time = policy::auditTimeNow();
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.queue_limit) {
      ++overflowed_;
      failures_.fetch_add(1, std::memory_order_relaxed);
      healthy_.store(false, std::memory_order_release);
      return false;
    }
    was_empty = queue_.empty();
    queue_.push_back(Item{std::move(event), std::nullopt});
    ++queued_;
  }
  if (was_empty) wake_.notify_one();
  return healthy();
}

void AuditLog::rotateKey(std::string new_key) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Item{{}, std::move(new_key)});
    ++queued_;
  }
  wake_.notify_one();
}

void AuditLog::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = queued_;
  written_.wait(lock, [&] { return done_ >= target; });
}

std::string AuditLog::lastHash() const {
  std::lock_guard lock(mutex_);
  return last_hash_;
}

void AuditLog::fail() {
  failures_.fetch_add(1, std::memory_order_relaxed);
  healthy_.store(false, std::memory_order_release);
}

void AuditLog::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    const auto ready = [&] { return stopping_ || !queue_.empty(); };
    if (unreported_lost_ > 0 || overflowed_ > 0 || pending_key_)
      wake_.wait_for(lock, kRetryDelay, ready);
    else
      wake_.wait(lock, ready);
    std::deque<Item> batch;
    batch.swap(queue_);
    unreported_lost_ += std::exchange(overflowed_, 0);
    const bool stopping = stopping_;
    lock.unlock();

    const std::uint64_t size_before = size_;
    const std::uint64_t rotations_before = rotations_;
    bool ok = writePending();
    for (Item& item : batch) {
      if (item.new_key) {
        pending_key_ = std::move(item.new_key);
        ok = writePending() && ok;
        continue;
      }
      // Nothing is written after a gap until the gap itself is recorded.
      if (!writePending()) {
        ++unreported_lost_;
        ok = false;
        continue;
      }
      const policy::AuditChain before = chain_;
      if (!writeLine(chain_.seal(item.event))) {
        chain_ = before;
        ++unreported_lost_;
        ok = false;
      }
    }
    if (fd_ >= 0 && (size_ != size_before || rotations_ != rotations_before) &&
        ::fdatasync(fd_) != 0) {
      fail();
      ok = false;
    }

    lock.lock();
    done_ += batch.size();
    last_hash_ = chain_.lastHash();
    if (ok && unreported_lost_ == 0 && overflowed_ == 0 && !pending_key_)
      healthy_.store(true, std::memory_order_release);
    written_.notify_all();
    if (stopping && queue_.empty()) break;
  }
}

bool AuditLog::writePending() {
  if (unreported_lost_ > 0) {
    policy::AuditEvent gap;
    gap.kind = "admin";
    gap.decision = "fail";
    gap.reason =
        std::to_string(unreported_lost_) + " audit events lost (queue full or write failure)";
    const policy::AuditChain before = chain_;
    if (!writeLine(chain_.seal(gap))) {
      chain_ = before;
      return false;
    }
    unreported_lost_ = 0;
  }
  if (pending_key_) {
    const policy::AuditChain before = chain_;
    if (!writeLine(chain_.sealKeyRotation(*pending_key_))) {
      chain_ = before;
      return false;
    }
    pending_key_.reset();
  }
  return true;
}

bool AuditLog::writeLine(const std::string& sealed) {
  if (fd_ < 0 && !reopen()) {
    fail();
    return false;
  }
  const std::string line = sealed + "\n";
  // A failed rotation is counted; the line still goes to the current file rather than be lost.
  if (options_.max_bytes > 0 && size_ > 0 && size_ + line.size() > options_.max_bytes &&
      !rotate()) {
    fail();
    if (fd_ < 0) return false;
  }
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Cut a partial line away, so the file always ends with a whole sealed line. Should that
      // fail too, start-up refuses the file until someone removes the partial line.
      if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) fail();
      fail();
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  size_ += line.size();
  return true;
}

bool AuditLog::rotate() {
  ++rotations_;
  bool ok = ::fdatasync(fd_) == 0;
  ::close(fd_);
  fd_ = -1;
  const std::string& path = options_.path;
  if (options_.keep == 0) {
    ok = ::unlink(path.c_str()) == 0 && ok;
  } else {
    // rename() replaces its target, so the oldest kept file is overwritten by the next one.
    for (unsigned n = options_.keep; n > 1; --n) {
      const std::string from = rotatedName(path, n - 1);
      if (::rename(from.c_str(), rotatedName(path, n).c_str()) != 0 && errno != ENOENT) ok = false;
    }
    if (::rename(path.c_str(), rotatedName(path, 1).c_str()) != 0) ok = false;
  }
  if (!reopen()) return false;
  return syncDirectory(path) && ok;
}

bool AuditLog::reopen() {
  std::string error;
  fd_ = openForAppend(options_.path, error);
  if (fd_ < 0) return false;
  size_ = fileSize(fd_);
  return true;
}

}  // namespace tenantwall::proxy
