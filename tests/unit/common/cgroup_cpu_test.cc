// ReadCgroupCpu on cgroup trees laid out in a temporary directory:
// v1 (cpu controller, the group and its ancestors), v2 (cpu.max), and the
// cases that must read as "no limit".
#include "common/cgroup_cpu.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stoa::common {
namespace {

class CgroupCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("stoa-cgroup-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    const std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  // A v1 group: quota and period in µs (-1: none).
  void V1(const std::string& mount, const std::string& group, int quota, int period = 100000) {
    const std::string dir = mount + (group == "/" ? "" : group);
    Write(dir + "/cpu.cfs_quota_us", std::to_string(quota) + "\n");
    Write(dir + "/cpu.cfs_period_us", std::to_string(period) + "\n");
  }
  double Read(const std::string& proc) { return ReadCgroupCpu(proc, root_.string()).quota_cores; }

  std::filesystem::path root_;
};

TEST_F(CgroupCpuTest, V1GroupQuotaInCores) {
  V1("cpu", "/", -1);
  V1("cpu", "/stoa-edge", 1000, 20000);  // the testbed's 0.05 core in 20 ms periods
  EXPECT_DOUBLE_EQ(Read("4:memory:/x\n1:cpu:/stoa-edge\n0::/\n"), 0.05);
  V1("cpu", "/stoa-edge", 20000, 20000);  // lifted to a core, live
  EXPECT_DOUBLE_EQ(Read("1:cpu:/stoa-edge\n"), 1.0);
}

TEST_F(CgroupCpuTest, TheSmallestQuotaOnThePathWins) {
  V1("cpu,cpuacct", "/", -1);
  V1("cpu,cpuacct", "/a", 50000);  // 0.5 core for the parent
  V1("cpu,cpuacct", "/a/b", -1);
  EXPECT_DOUBLE_EQ(Read("3:cpuacct,cpu:/a/b\n"), 0.5);
  V1("cpu,cpuacct", "/a/b", 200000);  // 2 cores asked, the parent's 0.5 bind
  EXPECT_DOUBLE_EQ(Read("3:cpuacct,cpu:/a/b\n"), 0.5);
}

TEST_F(CgroupCpuTest, V2CpuMax) {
  Write("svc/cpu.max", "25000 100000\n");
  EXPECT_DOUBLE_EQ(Read("0::/svc\n"), 0.25);
  Write("svc/cpu.max", "max 100000\n");
  EXPECT_DOUBLE_EQ(Read("0::/svc\n"), 0.0);
}

TEST_F(CgroupCpuTest, NoLimitOrNothingReadableIsZero) {
  V1("cpu", "/", -1);
  EXPECT_DOUBLE_EQ(Read("1:cpu:/\n"), 0.0);
  EXPECT_DOUBLE_EQ(Read("1:cpu:/not-there\n"), 0.0);
  EXPECT_DOUBLE_EQ(Read("5:memory:/m\n"), 0.0);
  EXPECT_DOUBLE_EQ(Read("garbage\n::\n"), 0.0);
  Write("cpu/bad/cpu.cfs_quota_us", "lots\n");
  Write("cpu/bad/cpu.cfs_period_us", "0\n");
  EXPECT_DOUBLE_EQ(Read("1:cpu:/bad\n"), 0.0);
  EXPECT_GE(OwnCgroupCpu().quota_cores, 0.0);  // whatever this machine has
}

// The throttled time is the limiting group's (the one whose quota binds).
TEST_F(CgroupCpuTest, ThrottledTimeOfTheLimitingGroup) {
  V1("cpu", "/", -1);
  Write("cpu/cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
  EXPECT_EQ(ReadCgroupCpu("1:cpu:/\n", root_.string()).throttled_ns, -1);  // no quota
  V1("cpu", "/stoa-cloud", 3000, 10000);
  Write("cpu/stoa-cloud/cpu.stat",
        "nr_periods 2711\nnr_throttled 2214\nthrottled_time 34678657271\nnr_bursts 0\n");
  EXPECT_EQ(ReadCgroupCpu("1:cpu:/stoa-cloud\n", root_.string()).throttled_ns, 34678657271);
  V1("cpu", "/stoa-cloud/x", -1);  // a child without a quota: its parent's binds
  EXPECT_EQ(ReadCgroupCpu("1:cpu:/stoa-cloud/x\n", root_.string()).throttled_ns, 34678657271);
  Write("svc/cpu.max", "25000 100000\n");
  Write("svc/cpu.stat", "usage_usec 100\nnr_throttled 3\nthrottled_usec 1500\n");
  EXPECT_EQ(ReadCgroupCpu("0::/svc\n", root_.string()).throttled_ns, 1'500'000);
  Write("svc/cpu.stat", "usage_usec 100\n");
  EXPECT_EQ(ReadCgroupCpu("0::/svc\n", root_.string()).throttled_ns, -1);
  EXPECT_GE(OwnCgroupCpu().throttled_ns, -1);  // whatever this machine has
}

TEST(CpuThrottleMeterTest, RatesOverWindowsOfATenthOfASecondOrMore) {
  CpuThrottleMeter m;
  EXPECT_EQ(m.Read(0, 5'000'000'000, 0).throttled, 0.0);  // the first reading
  CpuThrottleMeter::Rates r = m.Read(250'000, 5'425'000'000, 8'000'000);
  EXPECT_DOUBLE_EQ(r.throttled, 1.7);     // 0.425 s in 0.25 s
  EXPECT_DOUBLE_EQ(r.used_cores, 0.032);  // 8 ms of CPU in 0.25 s
  EXPECT_DOUBLE_EQ(m.Read(300'000, 9'000'000'000, 9'000'000).throttled, 1.7);  // too close
  EXPECT_DOUBLE_EQ(m.Read(550'000, 1'000'000'000, 9'000'000).throttled, 1.7);  // a new group
  r = m.Read(850'000, 1'006'000'000, 30'000'000);
  EXPECT_NEAR(r.throttled, 0.02, 1e-9);
  EXPECT_NEAR(r.used_cores, 0.07, 1e-9);
  EXPECT_EQ(m.Read(900'000, -1, 31'000'000).throttled, 0.0);  // unknown now
  EXPECT_GT(OwnCpuNs(), 0);
}

}  // namespace
}  // namespace stoa::common
