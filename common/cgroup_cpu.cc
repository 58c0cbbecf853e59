#include "common/cgroup_cpu.h"

#include <time.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"

namespace stoa::common {
namespace {

// The group's own quota in cores, 0 when it sets none or cannot be read.
double V1Quota(const std::string& dir) {
  const absl::StatusOr<std::string> quota_text = ReadFile(dir + "/cpu.cfs_quota_us");
  const absl::StatusOr<std::string> period_text = ReadFile(dir + "/cpu.cfs_period_us");
  int64_t quota = 0, period = 0;
  if (!quota_text.ok() || !period_text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*quota_text), &quota) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*period_text), &period) || quota <= 0 ||
      period <= 0) {
    return 0.0;
  }
  return static_cast<double>(quota) / static_cast<double>(period);
}

double V2Quota(const std::string& dir) {
  const absl::StatusOr<std::string> text = ReadFile(dir + "/cpu.max");
  if (!text.ok()) return 0.0;
  std::vector<std::string> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(*text), ' ', absl::SkipEmpty());
  int64_t quota = 0, period = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &quota) ||
      !absl::SimpleAtoi(parts[1], &period) || quota <= 0 || period <= 0) {
    return 0.0;  // "max PERIOD": no limit
  }
  return static_cast<double>(quota) / static_cast<double>(period);
}

// The smallest quota over `group` and its ancestors under `mount`; `dir`
// (when given) is set to the directory of the group that sets it.
double Smallest(const std::string& mount, std::string group, double (*quota)(const std::string&),
                std::string* dir = nullptr) {
  double best = 0.0;
  while (true) {
    const std::string here = mount + (group == "/" ? "" : group);
    const double q = quota(here);
    if (q > 0.0 && (best == 0.0 || q < best)) {
      best = q;
      if (dir != nullptr) *dir = here;
    }
    if (group.empty() || group == "/") break;
    const size_t slash = group.rfind('/');
    group = slash == 0 || slash == std::string::npos ? "/" : group.substr(0, slash);
  }
  return best;
}

// A "KEY VALUE" line's value in a cpu.stat text; -1 when absent.
int64_t StatValue(const std::string& text, const std::string& key) {
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(text, '\n'))) {
    std::vector<std::string> kv = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t v = 0;
    if (kv.size() == 2 && kv[0] == key && absl::SimpleAtoi(kv[1], &v) && v >= 0) return v;
  }
  return -1;
}

// The quota of the group that limits the process (cgroup_cpu.h),
// that group's directory and whether it is a v2 one; 0 when none does or
// none can be read.
double LimitingGroup(const std::string& proc_cgroup, const std::string& root, std::string* dir,
                     bool* v2) {
  std::istringstream lines(proc_cgroup);
  std::string line;
  while (std::getline(lines, line)) {
    // "ID:CONTROLLERS:PATH"; v2's line is "0::PATH".
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3 || f[2].empty() || f[2][0] != '/') continue;
    if (f[1].empty()) {
      const double q = Smallest(root, f[2], &V2Quota, dir);
      if (q > 0.0) {
        *v2 = true;
        return q;
      }
      continue;
    }
    std::vector<std::string> controllers = absl::StrSplit(f[1], ',');
    if (std::find(controllers.begin(), controllers.end(), "cpu") == controllers.end()) continue;
    for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
      if (ReadFile(root + mount + "/cpu.cfs_period_us").ok()) {
        *v2 = false;
        return Smallest(root + mount, f[2], &V1Quota, dir);
      }
    }
  }
  return 0.0;
}

}  // namespace

CgroupCpu ReadCgroupCpu(const std::string& proc_cgroup, const std::string& root) {
  CgroupCpu out;
  std::string dir;
  bool v2 = false;
  out.quota_cores = LimitingGroup(proc_cgroup, root, &dir, &v2);
  if (out.quota_cores <= 0.0) return out;
  const absl::StatusOr<std::string> text = ReadFile(dir + "/cpu.stat");
  if (!text.ok()) return out;
  if (!v2) {
    out.throttled_ns = StatValue(*text, "throttled_time");
  } else if (const int64_t us = StatValue(*text, "throttled_usec"); us >= 0) {
    out.throttled_ns = us * 1000;
  }
  return out;
}

CpuThrottleMeter::Rates CpuThrottleMeter::Read(int64_t now_us, int64_t throttled_ns,
                                               int64_t own_cpu_ns) {
  absl::MutexLock lock(&mu_);
  if (throttled_ns < 0) {
    last_us_ = -1;
    rates_ = {};
    return rates_;
  }
  if (last_us_ < 0 || throttled_ns < last_ns_ || own_cpu_ns < last_own_ns_ || now_us < last_us_) {
    last_us_ = now_us;  // the first reading, or a new group: nothing to compare yet
    last_ns_ = throttled_ns;
    last_own_ns_ = own_cpu_ns;
    return rates_;
  }
  if (now_us - last_us_ >= kMinWindowUs) {
    const double window_ns = 1000.0 * static_cast<double>(now_us - last_us_);
    rates_.throttled = static_cast<double>(throttled_ns - last_ns_) / window_ns;
    rates_.used_cores = static_cast<double>(own_cpu_ns - last_own_ns_) / window_ns;
    last_us_ = now_us;
    last_ns_ = throttled_ns;
    last_own_ns_ = own_cpu_ns;
  }
  return rates_;
}

int64_t OwnCpuNs() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

CgroupCpu OwnCgroupCpu() {
  const absl::StatusOr<std::string> text = ReadFile("/proc/self/cgroup");
  return text.ok() ? ReadCgroupCpu(*text, "/sys/fs/cgroup") : CgroupCpu{};
}

}  // namespace stoa::common
