#include "proxy/available_cpus.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

namespace tenantwall::proxy {
namespace {

std::optional<std::string> readTextFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

// mount + path, then each ancestor of path, down to mount itself.
std::vector<std::string> upTheTree(const std::string& mount, std::string_view path) {
  std::vector<std::string> dirs;
  path = trimmed(path);
  while (!path.empty() && path != "/") {
    dirs.push_back(mount + std::string(path));
    path = path.substr(0, path.rfind('/'));
  }
  dirs.push_back(mount);
  return dirs;
}

}  // namespace

std::optional<unsigned> cpusOfCgroupMax(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = text.substr(0, space);
  const std::string_view period_text = trimmed(text.substr(space + 1));
  unsigned long long quota = 0, period = 0;
  auto parse = [](std::string_view s, unsigned long long& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (!parse(quota_text, quota) || !parse(period_text, period) || quota == 0 || period == 0)
    return std::nullopt;
  return static_cast<unsigned>(
      std::min<unsigned long long>((quota + period - 1) / period, 1u << 20));
}

std::optional<unsigned> cgroupCpuQuota(std::string_view self_cgroup, const ReadText& read) {
  std::optional<unsigned> lowest;
  auto consider = [&](std::optional<unsigned> cpus) {
    if (cpus && (!lowest || *cpus < *lowest)) lowest = cpus;
  };
  while (!self_cgroup.empty()) {
    // hierarchy-ID:controllers:path
    const auto end = self_cgroup.find('\n');
    const std::string_view line = self_cgroup.substr(0, end);
    self_cgroup = end == std::string_view::npos ? std::string_view() : self_cgroup.substr(end + 1);
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view id = line.substr(0, first);
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string_view path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) {
      for (const auto& dir : upTheTree("/sys/fs/cgroup", path))
        if (auto text = read(dir + "/cpu.max")) consider(cpusOfCgroupMax(*text));
      continue;
    }
    bool cpu = false;
    for (std::string_view rest = controllers; !rest.empty();) {
      const auto comma = rest.find(',');
      cpu = cpu || rest.substr(0, comma) == "cpu";
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (!cpu) continue;
    for (const std::string mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      for (const auto& dir : upTheTree(mount, path)) {
        auto quota = read(dir + "/cpu.cfs_quota_us");
        auto period = read(dir + "/cpu.cfs_period_us");
        if (quota && period)
          consider(cpusOfCgroupMax(std::string(trimmed(*quota)) + " " + *period));
      }
    }
  }
  return lowest;
}

unsigned autoIoThreads(unsigned cpus) { return std::clamp(cpus, 1u, kMaxAutoIoThreads); }

unsigned availableCpus() {
  unsigned cpus = CPU_SETSIZE;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    cpus = std::min<unsigned>(cpus, CPU_COUNT(&set));
  if (const auto self = readTextFile("/proc/self/cgroup"))
    if (const auto quota = cgroupCpuQuota(*self, readTextFile)) cpus = std::min(cpus, *quota);
  return std::max(cpus, 1u);
}

}  // namespace tenantwall::proxy
