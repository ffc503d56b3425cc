// io_threads: auto: the CPU quota of the process's cgroup (v2 cpu.max, v1 cpu.cfs_quota_us, up
// the tree), and the count it yields.
#include "proxy/available_cpus.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <map>
#include <string>

namespace tenantwall::proxy {
namespace {

TEST(AvailableCpusTest, CgroupQuotaRoundsUp) {
  EXPECT_EQ(cpusOfCgroupMax("200000 100000\n"), 2u);
  EXPECT_EQ(cpusOfCgroupMax("150000 100000\n"), 2u);
  EXPECT_EQ(cpusOfCgroupMax("50000 100000"), 1u);
  EXPECT_EQ(cpusOfCgroupMax("800000 100000\n"), 8u);
}

TEST(AvailableCpusTest, NoQuotaOrNonsenseIsNoLimit) {
  EXPECT_EQ(cpusOfCgroupMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(cpusOfCgroupMax(""), std::nullopt);
  EXPECT_EQ(cpusOfCgroupMax("100000"), std::nullopt);
  EXPECT_EQ(cpusOfCgroupMax("0 100000"), std::nullopt);
  EXPECT_EQ(cpusOfCgroupMax("12x 100000"), std::nullopt);
}

// A file system of a few cgroup files.
ReadText files(std::map<std::string, std::string> contents) {
  return [contents = std::move(contents)](const std::string& path) -> std::optional<std::string> {
    auto it = contents.find(path);
    if (it == contents.end()) return std::nullopt;
    return it->second;
  };
}

TEST(AvailableCpusTest, CgroupV2QuotaOfTheProcessOrAnAncestorTheLowestWins) {
  // A systemd service with CPUQuota=300% in a slice limited to 2 CPUs.
  const std::string self = "0::/app.slice/tenantwall.service\n";
  EXPECT_EQ(
      cgroupCpuQuota(self,
                     files({
                         {"/sys/fs/cgroup/app.slice/tenantwall.service/cpu.max", "300000 100000\n"},
                         {"/sys/fs/cgroup/app.slice/cpu.max", "200000 100000\n"},
                     })),
      2u);
  EXPECT_EQ(cgroupCpuQuota(
                self, files({
                          {"/sys/fs/cgroup/app.slice/tenantwall.service/cpu.max", "50000 100000\n"},
                          {"/sys/fs/cgroup/app.slice/cpu.max", "max 100000\n"},
                      })),
            1u);
  // In a container: its own cgroup is the root of what it sees.
  EXPECT_EQ(cgroupCpuQuota("0::/\n", files({{"/sys/fs/cgroup/cpu.max", "150000 100000\n"}})), 2u);
  EXPECT_EQ(cgroupCpuQuota("0::/\n", files({{"/sys/fs/cgroup/cpu.max", "max 100000\n"}})),
            std::nullopt);
  EXPECT_EQ(cgroupCpuQuota("0::/\n", files({})), std::nullopt);
}

TEST(AvailableCpusTest, CgroupV1QuotaOfTheCpuController) {
  const std::string self = "12:memory:/kubepods/pod1/abc\n4:cpu,cpuacct:/kubepods/pod1/abc\n0::/\n";
  EXPECT_EQ(cgroupCpuQuota(self, files({
                                     {"/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/abc/"
                                      "cpu.cfs_quota_us",
                                      "50000\n"},
                                     {"/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/abc/"
                                      "cpu.cfs_period_us",
                                      "100000\n"},
                                 })),
            1u);
  // The container's view: the hierarchy's root is its cgroup; -1 is no quota.
  EXPECT_EQ(cgroupCpuQuota("1:cpu:/docker/abc\n",
                           files({{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n"},
                                  {"/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"}})),
            3u);
  EXPECT_EQ(
      cgroupCpuQuota("1:cpu:/\n", files({{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n"},
                                         {"/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"}})),
      std::nullopt);
  // Other controllers' quotas are not CPU quotas.
  EXPECT_EQ(cgroupCpuQuota("3:cpuset:/x\n2:cpuacct:/x\n",
                           files({{"/sys/fs/cgroup/cpu/x/cpu.cfs_quota_us", "50000\n"},
                                  {"/sys/fs/cgroup/cpu/x/cpu.cfs_period_us", "100000\n"}})),
            std::nullopt);
}

TEST(AvailableCpusTest, MalformedSelfCgroupIsNoQuota) {
  const auto all = files({{"/sys/fs/cgroup/cpu.max", "100000 100000"}});
  EXPECT_EQ(cgroupCpuQuota("", all), std::nullopt);
  EXPECT_EQ(cgroupCpuQuota("garbage\n::\n", all), std::nullopt);
}

TEST(AvailableCpusTest, NeverMoreThanTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const unsigned cpus = availableCpus();
  EXPECT_GE(cpus, 1u);
  EXPECT_LE(cpus, static_cast<unsigned>(CPU_COUNT(&set)));
}

TEST(AvailableCpusTest, AutoIoThreadsAreOnePerCpuWithinBounds) {
  EXPECT_EQ(autoIoThreads(0), 1u);
  EXPECT_EQ(autoIoThreads(1), 1u);
  EXPECT_EQ(autoIoThreads(2), 2u);
  EXPECT_EQ(autoIoThreads(3), 3u);
  EXPECT_EQ(autoIoThreads(16), 16u);
  EXPECT_EQ(autoIoThreads(17), kMaxAutoIoThreads);
  EXPECT_EQ(autoIoThreads(32), kMaxAutoIoThreads);
  EXPECT_EQ(autoIoThreads(1024), kMaxAutoIoThreads);
}

}  // namespace
}  // namespace tenantwall::proxy
