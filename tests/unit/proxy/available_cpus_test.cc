// io_threads: auto: the CPU quota of a cgroup v2 cpu.max file, and the count it yields.
#include "proxy/available_cpus.h"

#include <gtest/gtest.h>
#include <sched.h>

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

TEST(AvailableCpusTest, NeverMoreThanTheAffinityMaskOrTheCap) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const unsigned cpus = availableCpus();
  EXPECT_GE(cpus, 1u);
  EXPECT_LE(cpus, static_cast<unsigned>(CPU_COUNT(&set)));
  EXPECT_LE(cpus, kMaxAutoIoThreads);
}

}  // namespace
}  // namespace tenantwall::proxy
