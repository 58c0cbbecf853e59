#include "common/cgroup_cpu.h"

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

// The smallest quota over `group` and its ancestors under `mount`.
double Smallest(const std::string& mount, std::string group, double (*quota)(const std::string&)) {
  double best = 0.0;
  while (true) {
    const double q = quota(mount + (group == "/" ? "" : group));
    if (q > 0.0 && (best == 0.0 || q < best)) best = q;
    if (group.empty() || group == "/") break;
    const size_t slash = group.rfind('/');
    group = slash == 0 || slash == std::string::npos ? "/" : group.substr(0, slash);
  }
  return best;
}

}  // namespace

double CgroupCpuQuotaCores(const std::string& proc_cgroup, const std::string& root) {
  std::istringstream lines(proc_cgroup);
  std::string line;
  while (std::getline(lines, line)) {
    // "ID:CONTROLLERS:PATH"; v2's line is "0::PATH".
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3 || f[2].empty() || f[2][0] != '/') continue;
    if (f[1].empty()) {
      const double q = Smallest(root, f[2], &V2Quota);
      if (q > 0.0) return q;
      continue;
    }
    std::vector<std::string> controllers = absl::StrSplit(f[1], ',');
    if (std::find(controllers.begin(), controllers.end(), "cpu") == controllers.end()) continue;
    for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
      if (ReadFile(root + mount + "/cpu.cfs_period_us").ok()) {
        return Smallest(root + mount, f[2], &V1Quota);
      }
    }
  }
  return 0.0;
}

double OwnCgroupCpuQuotaCores() {
  const absl::StatusOr<std::string> text = ReadFile("/proc/self/cgroup");
  return text.ok() ? CgroupCpuQuotaCores(*text, "/sys/fs/cgroup") : 0.0;
}

}  // namespace stoa::common
