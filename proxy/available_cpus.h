// How many CPUs this process may use, for io_threads: auto. A sidecar's container is usually
// given a CPU quota on a node with many cores, so the affinity mask alone would overcount.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tenantwall::proxy {

// The CPUs of the affinity mask, lowered to the CPU quota of the process's cgroup and its
// ancestors (cgroupCpuQuota) rounded up; at least 1.
unsigned availableCpus();

inline constexpr unsigned kMaxAutoIoThreads = 16;

// io_threads: auto for that many CPUs: one event loop per CPU, at most kMaxAutoIoThreads. Even
// where the proxy shares its CPUs with PostgreSQL and the clients, one loop is a single
// thread's fair share of them that every session queues behind: measured on two CPUs shared
// with PostgreSQL and pgbench (tests/bench, select-only), two loops served 15-30% more
// transactions at 32 clients with lower p50 and p99, and at 8 as many or more with p99 up to a
// tenth higher, clients served about as evenly.
unsigned autoIoThreads(unsigned cpus);

// The quota of a cgroup v2 cpu.max file ("150000 100000" is 2 CPUs, rounded up); nullopt for
// "max" (no quota) or text that is not a quota. A cgroup v1 quota reads the same once its
// cpu.cfs_quota_us and cpu.cfs_period_us are joined by a space ("-1 ..." is no quota).
std::optional<unsigned> cpusOfCgroupMax(std::string_view text);

// A file's text, or nullopt when it cannot be read.
using ReadText = std::function<std::optional<std::string>(const std::string& path)>;

// The smallest CPU quota on the way from the process's cgroup (self_cgroup: the text of
// /proc/self/cgroup) up to the root of its hierarchy, cgroup v2 (cpu.max under /sys/fs/cgroup)
// or v1 (cpu.cfs_quota_us under /sys/fs/cgroup/cpu); nullopt when nothing sets one. The root
// of the mounted hierarchy is read too: inside a container it is the container's own cgroup.
std::optional<unsigned> cgroupCpuQuota(std::string_view self_cgroup, const ReadText& read);

}  // namespace tenantwall::proxy
