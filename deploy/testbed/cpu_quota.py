"""CPU groups of the testbed's executors: a cgroup v1 `cpu` group per tier,
its quota changed live, and CPU-bound background processes started and
stopped inside it (the "executor load" and "edge quota" actions of
bench/stoa-bench scenarios).

    group = CpuGroup("tb-edge", quota_cores=0.5, period_us=100000)
    group.preexec              # for Popen: the child joins before exec
    group.join(pid)            # move a running process (all its threads) in
    group.set_quota(0.25)      # live; None = unlimited
    group.set_busy(3)          # 3 busy loops in the group; 0 stops them
    group.remove()             # stops the busy loops, removes the directory

Where the group cannot be created (no root, no cgroup v1 `cpu` controller)
`mode` is "pinned" and `warning` says why: preexec then pins the child to
one CPU, and set_quota/set_busy raise RuntimeError (a scenario that needs
them cannot run there). Not thread-safe: one owner (the Testbed) calls it.
Needs only the Python standard library.
"""

import errno
import itertools
import os
import signal
import subprocess
import sys
import time

CGROUP_CPU_ROOT = "/sys/fs/cgroup/cpu"
CFS_PERIOD_US = 100000
MIN_QUOTA_US = 1000  # the kernel's lower bound for cfs_quota_us
_IDS = itertools.count()  # several testbeds in one process get their own groups
# A busy loop in the shell: no dependency, pure user CPU.
BUSY_ARGV = ["/bin/sh", "-c", "while :; do :; done"]


def quota_us(cores, period_us):
    """cfs_quota_us for `cores` (None: unlimited, -1)."""
    if cores is None:
        return -1
    return max(MIN_QUOTA_US, int(round(cores * period_us)))


class CpuGroup:
    """One cgroup v1 cpu group (or, where unavailable, CPU pinning)."""

    def __init__(self, name, quota_cores, period_us=CFS_PERIOD_US):
        self.quota_cores = quota_cores
        self.period_us = int(period_us)
        self.path = None
        self.mode = "none"
        self.warning = None
        self._busy = []
        path = os.path.join(CGROUP_CPU_ROOT, "stoa-%s-%d-%d" % (name, os.getpid(), next(_IDS)))
        try:
            os.makedirs(path, exist_ok=True)
            self._write(path, "cpu.cfs_period_us", self.period_us)
            self._write(path, "cpu.cfs_quota_us", quota_us(quota_cores, self.period_us))
            self.path = path
            self.mode = "cgroup"
        except OSError as e:
            try:
                os.rmdir(path)
            except OSError:
                pass
            self.mode = "pinned"
            self.warning = ("cgroup v1 cpu quota unavailable (%s: %s); the %s executor "
                            "is pinned to one CPU instead of %s cores"
                            % (path, e.strerror, name.rsplit("-", 1)[-1],
                               "unlimited" if quota_cores is None else "%.2f" % quota_cores))

    @staticmethod
    def _write(path, name, value):
        with open(os.path.join(path, name), "w") as f:
            f.write(str(value))

    def preexec(self):
        """Runs in the child before exec: joins the group (or pins)."""
        if self.mode == "cgroup":
            self._write(self.path, "cgroup.procs", os.getpid())
        elif self.mode == "pinned":
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpus[-1]})

    def _require(self, what):
        if self.mode != "cgroup":
            raise RuntimeError("%s needs a cgroup v1 cpu group: %s" % (what, self.warning))

    def join(self, pid):
        """Moves the running process `pid` (every thread) into the group."""
        self._require("join")
        self._write(self.path, "cgroup.procs", pid)

    def set_quota(self, cores):
        """Changes the quota live (None: unlimited). ValueError when `cores`
        is not a positive number; RuntimeError without a cgroup."""
        if cores is not None and (isinstance(cores, bool) or not isinstance(
                cores, (int, float)) or not cores > 0):
            raise ValueError("quota cores: expected a number > 0, got %r" % (cores,))
        self._require("a quota change")
        self._write(self.path, "cpu.cfs_quota_us", quota_us(cores, self.period_us))
        self.quota_cores = cores

    @property
    def busy(self):
        return len(self._busy)

    def set_busy(self, count):
        """Runs exactly `count` busy loops in the group (starting or stopping
        the difference). ValueError for a negative or non-integer count."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("busy processes: expected an integer >= 0, got %r" % (count,))
        self._require("background load")
        while len(self._busy) < count:
            self._busy.append(subprocess.Popen(
                BUSY_ARGV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=self.preexec, start_new_session=True))
        while len(self._busy) > count:
            self._stop(self._busy.pop())

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def remove(self):
        """Stops the busy loops and removes the group (after its other
        processes exited). Idempotent."""
        while self._busy:
            self._stop(self._busy.pop())
        if self.path is None:
            return
        for _ in range(50):  # the kernel frees the group shortly after exit
            try:
                os.rmdir(self.path)
                self.path = None
                return
            except FileNotFoundError:
                self.path = None
                return
            except OSError as e:
                if e.errno != errno.EBUSY:
                    break
                time.sleep(0.1)
        sys.stderr.write("testbed: could not remove %s\n" % self.path)
