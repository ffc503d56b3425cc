// Reloads the policy when its file changes. Polls the path through symlinks, because a
// Kubernetes ConfigMap update swaps a symlink (..data) rather than writing the file, which
// inotify on the file itself would miss.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "proxy/asio.h"

namespace tenantwall::proxy {

// What identifies one version of the file on disk.
struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stampOf(const std::string& path);  // size -1 when the file cannot be read

class PolicyWatcher {
 public:
  // on_change runs on the io_context when the file at path changes or disappears.
  PolicyWatcher(asio::io_context& io, std::string path, std::chrono::milliseconds interval,
                std::function<void()> on_change);
  // Files the policy reads besides itself (the JWT key set), asked for again on every poll: a
  // change of one of them reloads too. A file that only joins the list (a new policy names it)
  // does not.
  void watchAlso(std::function<std::vector<std::string>()> paths);
  void start();
  void stop();

 private:
  void schedule();
  void check();

  asio::steady_timer timer_;
  std::string path_;
  std::function<void()> on_change_;
  std::chrono::milliseconds interval_;
  FileStamp last_;
  std::function<std::vector<std::string>()> also_;
  std::map<std::string, FileStamp> last_also_;
  bool stopped_ = false;
};

}  // namespace tenantwall::proxy
