// The CPU quota of the calling process's cgroup, in cores: what an executor
// reports in GetStatus (cpu_quota_cores) so the gateway's scheduler sees a
// quota change on its next status probe instead of only through the run
// times that follow (issue 14: an edge whose quota is lifted is otherwise
// found faster only by a shadow run there).
//
// cgroup v1: the `cpu` controller's group from /proc/self/cgroup, its
// cpu.cfs_quota_us / cpu.cfs_period_us under ROOT/cpu (or cpu,cpuacct /
// cpuacct,cpu); cgroup v2: cpu.max of the unified group. The group and its
// ancestors each may limit: the smallest quota wins. 0 when no group limits
// the process or none can be read (no cgroup file system, another mount
// point): "unknown" and "unlimited" are the same to the caller.
//
// The same group's throttled time (v1 cpu.stat throttled_time, ns; v2
// throttled_usec) tells how starved it is: its runqueues wait for the next
// period while its tasks want more than the quota. CpuThrottleMeter turns
// the running total into a rate, reported as cpu_throttled: ~0 for a group
// that stays within its quota (an executor's own runs add a few hundredths),
// ~1 per CPU its tasks run on when other processes in the group saturate it
// (the load-flips testbed's cloud under eight busy loops: 1.7 on 2 CPUs).
//
// Thread safety: the functions are stateless and read a few small files per
// call; CpuThrottleMeter is internally synchronized.
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stoa::common {

struct CgroupCpu {
  // The quota in cores (above; 0: none or unknown).
  double quota_cores = 0.0;
  // Nanoseconds the limiting group (the one whose quota that is) has spent
  // throttled since it was made, summed over CPUs; -1 when no group limits
  // the process or its cpu.stat cannot be read.
  int64_t throttled_ns = -1;
};

// `proc_cgroup`: the /proc/PID/cgroup text; `root`: where the cgroup file
// systems are mounted (/sys/fs/cgroup). One walk of the group's path.
CgroupCpu ReadCgroupCpu(const std::string& proc_cgroup, const std::string& root);

// The calling process's, from /proc/self/cgroup and /sys/fs/cgroup.
CgroupCpu OwnCgroupCpu();

// Over the window between readings at least kMinWindowUs apart (closer
// readings return the last rates): the
// group's throttled seconds per second, and the process's own CPU seconds
// per second (cores it used). Throttling while the process itself used
// most of the quota is its own load; while it used little, other
// processes in the group took the quota. Both 0 until two readings, and
// when the throttled total is unknown (-1).
class CpuThrottleMeter {
 public:
  static constexpr int64_t kMinWindowUs = 100'000;
  struct Rates {
    double throttled = 0.0;
    double used_cores = 0.0;
  };
  // `own_cpu_ns`: the process's CPU time so far (OwnCpuNs).
  Rates Read(int64_t now_us, int64_t throttled_ns, int64_t own_cpu_ns);

 private:
  absl::Mutex mu_;
  int64_t last_us_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t last_ns_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_own_ns_ ABSL_GUARDED_BY(mu_) = 0;
  Rates rates_ ABSL_GUARDED_BY(mu_);
};

// The calling process's CPU time so far (CLOCK_PROCESS_CPUTIME_ID), ns.
int64_t OwnCpuNs();

}  // namespace stoa::common
