#include "proxy/available_cpus.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace tenantwall::proxy {

std::optional<unsigned> cpusOfCgroupMax(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = text.substr(0, space);
  std::string_view period_text = text.substr(space + 1);
  while (!period_text.empty() && (period_text.back() == '\n' || period_text.back() == ' '))
    period_text.remove_suffix(1);
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

unsigned availableCpus() {
  unsigned cpus = kMaxAutoIoThreads;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    cpus = std::min<unsigned>(cpus, CPU_COUNT(&set));
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::stringstream text;
  text << file.rdbuf();
  if (const auto quota = cpusOfCgroupMax(text.str())) cpus = std::min(cpus, *quota);
  return std::max(cpus, 1u);
}

}  // namespace tenantwall::proxy
