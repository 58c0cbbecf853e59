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
// Thread safety: stateless; reads a few small files per call.
#pragma once

#include <string>

namespace stoa::common {

// `proc_cgroup`: the /proc/PID/cgroup text; `root`: where the cgroup file
// systems are mounted (/sys/fs/cgroup).
double CgroupCpuQuotaCores(const std::string& proc_cgroup, const std::string& root);

// The calling process's, from /proc/self/cgroup and /sys/fs/cgroup.
double OwnCgroupCpuQuotaCores();

}  // namespace stoa::common
