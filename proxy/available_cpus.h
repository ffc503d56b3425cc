// How many CPUs this process may use, for io_threads: auto. A sidecar's container is usually
// given a CPU quota on a node with many cores, so the affinity mask alone would overcount.
#pragma once

#include <optional>
#include <string_view>

namespace tenantwall::proxy {

// The CPUs of the affinity mask, lowered to the cgroup v2 CPU quota (cpu.max) rounded up;
// at least 1, at most kMaxAutoIoThreads.
unsigned availableCpus();

inline constexpr unsigned kMaxAutoIoThreads = 16;

// The quota of a cgroup v2 cpu.max file ("150000 100000" is 2 CPUs, rounded up); nullopt for
// "max" (no quota) or text that is not a quota.
std::optional<unsigned> cpusOfCgroupMax(std::string_view text);

}  // namespace tenantwall::proxy
