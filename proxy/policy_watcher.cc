// Polling reload of the policy file.
#include "proxy/policy_watcher.h"

#include <sys/stat.h>

namespace tenantwall::proxy {

FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileStamp{};
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

PolicyWatcher::PolicyWatcher(asio::io_context& io, std::string path,
                             std::chrono::milliseconds interval, std::function<void()> on_change)
    : timer_(io), path_(std::move(path)), on_change_(std::move(on_change)), interval_(interval) {}

void PolicyWatcher::watchAlso(std::function<std::vector<std::string>()> paths) {
  also_ = std::move(paths);
}

void PolicyWatcher::start() {
  last_ = stampOf(path_);
  if (also_)
    for (const auto& path : also_()) last_also_[path] = stampOf(path);
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
  const FileStamp now = stampOf(path_);
  bool changed = now != last_;
  last_ = now;
  if (also_) {
    std::map<std::string, FileStamp> stamps;
    for (const auto& path : also_()) {
      stamps[path] = stampOf(path);
      const auto before = last_also_.find(path);
      changed = changed || (before != last_also_.end() && before->second != stamps[path]);
    }
    last_also_ = std::move(stamps);
  }
  if (changed) on_change_();
}

}  // namespace tenantwall::proxy
