// Polling reload of the policy file.
#include "proxy/policy_watcher.h"

#include <sys/stat.h>

#include "proxy/log.h"

namespace tenantwall::proxy {

FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileStamp{};
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

PolicyWatcher::PolicyWatcher(asio::io_context& io, PolicyStore& store,
                             std::chrono::milliseconds interval)
    : timer_(io), store_(store), interval_(interval) {}

void PolicyWatcher::start() {
  last_ = stampOf(store_.path());
  schedule();
}

void PolicyWatcher::stop() {
  stopped_ = true;
  timer_.cancel();
}

void PolicyWatcher::schedule() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    check();
    schedule();
  });
}

void PolicyWatcher::check() {
  const FileStamp now = stampOf(store_.path());
  if (now == last_) return;
  last_ = now;
  if (now.size < 0) {
    logLine(LogLevel::kError,
            "policy file " + store_.path() + " disappeared; keeping the running policy");
    return;
  }
  if (std::string error = store_.reload(); error.empty())
    logLine(LogLevel::kInfo, "policy reloaded after a file change, version " +
                                 std::to_string(store_.current()->version) + ", sha256 " +
                                 store_.current()->hash);
  else
    logLine(LogLevel::kError, "policy reload rejected, keeping the running policy: " + error);
}

}  // namespace tenantwall::proxy
