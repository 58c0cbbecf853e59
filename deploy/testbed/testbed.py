#!/usr/bin/python3
"""The continuum testbed launcher: one YAML file -> a running Stoa testbed.

Starts, on this machine and on loopback:
  - the cloud stoa-executor (no CPU limit unless cloud.quota_cores is set),
  - the edge stoa-executor under a CPU quota (cgroup v1 cpu.cfs_quota_us under
    /sys/fs/cgroup/cpu, deploy/testbed/cpu_quota.py; where that is not
    writable, pinned to one CPU with a warning),
  - two stoa-linkem link emulators, "edge" in front of the edge executor and
    "cloud" in front of the cloud executor,
  - stoa-gateway with --edge/--cloud pointing at the two linkems,
and stops them all (SIGTERM, wait, SIGKILL after a grace period, cgroup
removal) on stop(), on leaving a `with` block, or on Ctrl-C in the CLI.

Python API (used by bench/; keep stable):
    tb = Testbed.from_yaml("deploy/testbed/4g.yaml")  # ValueError naming the field
    tb.start()            # returns when every process printed its address
    tb.gateway_url        # "http://127.0.0.1:PORT"
    tb.set_link("cloud", delay_ms=150, rate_mbit=2)   # PUT /link, live
    tb.get_link("cloud")  # the linkem's current parameters (dict)
    tb.set_quota("edge", 0.25)    # the executor's cgroup quota, live (None: unlimited)
    tb.set_load("cloud", 3)       # 3 busy loops in the cloud executor's cgroup; 0 stops
    tb.get_cpu("cloud")   # {"quota_cores": ..., "busy": ...}
    tb.pids               # {"cloud_executor": pid, "edge_executor": ..., ...}
    tb.stop()
    with Testbed.from_yaml(path) as tb: ...   # start() on enter, stop() on exit

CLI (with /usr/bin/python3, which has Debian's python3-yaml):
    deploy/testbed/testbed.py up FILE      # start, print addresses, wait for Ctrl-C
    deploy/testbed/testbed.py check FILE   # validate only

The YAML format is documented in docs/testbed.md and validated by
testbed_config.py. Needs only the Python standard library and PyYAML.
"""

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import http.client

import cpu_quota
from testbed_config import load_yaml

try:
    import yaml
except ImportError:  # pragma: no cover - environment problem, not input
    sys.stderr.write("testbed: PyYAML is missing; use /usr/bin/python3 "
                     "(Debian python3-yaml)\n")
    raise

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_BIN_DIR = "build/release/bin"
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0
TIERS = ("edge", "cloud")


# ------------------------------------------------------------------ processes

class _Child:
    """One started binary: its Popen, first-line address, and log file."""

    def __init__(self, role, argv, log_path, preexec=None):
        self.role = role
        self.argv = argv
        self.log_path = log_path
        self.lines = []
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log, preexec_fn=preexec, start_new_session=True)

    def read_lines(self, count, timeout_s):
        """Reads `count` stdout lines; RuntimeError if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        buf = b""
        while len(self.lines) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                self._die("did not print its address within %.0f s" % timeout_s)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait()
                self._die("exited with status %s before printing its address"
                          % self.proc.returncode)
            buf += chunk
            while b"\n" in buf and len(self.lines) < count:
                line, buf = buf.split(b"\n", 1)
                self.lines.append(line.decode("utf-8", "replace").strip())
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def address(self, line_index=0):
        line = self.lines[line_index]
        marker = " on "
        if marker not in line:
            self._die("unexpected line %r" % line)
        return line.rsplit(marker, 1)[1].strip()

    def _drain(self):
        try:
            while self.proc.stdout.read(4096):
                pass
        except (OSError, ValueError):
            pass

    def _die(self, why):
        tail = ""
        try:
            self._log.flush()
            with open(self.log_path, "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            pass
        raise RuntimeError("%s (%s) %s; log %s:\n%s"
                           % (self.role, " ".join(self.argv), why, self.log_path, tail))

    def terminate(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, deadline):
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        try:
            self.proc.stdout.close()
        except (OSError, ValueError):
            pass


class Testbed:
    """A running (or startable) testbed described by one YAML file."""

    def __init__(self, config, bin_dir=None, gateway_args=None):
        self.config = config
        self.name = config["name"]
        self.bin_dir = self._resolve_bin_dir(bin_dir or config.get("bin_dir"))
        self.gateway_url = None
        self.addresses = {}  # role -> "HOST:PORT" (linkems also "<role>_control")
        self.edge_cpu_mode = None  # "cgroup" or "pinned" once started
        self.gateway_args = list(gateway_args or [])
        self._children = []
        self._groups = {}  # tier -> cpu_quota.CpuGroup (the cloud's made on demand)
        self._tmp = None
        self._log_dir = None
        self._keep_tmp = False
        self._lock = threading.Lock()

    # -- construction
    @classmethod
    def from_yaml(cls, path, bin_dir=None, gateway_args=None):
        """Validates `path` (ValueError naming the field); starts nothing.
        `gateway_args`: extra stoa-gateway flags (e.g. --trace-file F)."""
        return cls(load_yaml(path), bin_dir=bin_dir, gateway_args=gateway_args)

    @staticmethod
    def _resolve_bin_dir(bin_dir):
        bin_dir = bin_dir or os.environ.get("STOA_BIN_DIR") or DEFAULT_BIN_DIR
        if not os.path.isabs(bin_dir):
            bin_dir = os.path.join(REPO_ROOT, bin_dir)
        return bin_dir

    # -- properties
    @property
    def pids(self):
        """{role: pid} of every running process this testbed started."""
        return {c.role: c.proc.pid for c in self._children if c.proc.poll() is None}

    @property
    def _quota(self):
        """The edge executor's CPU group (None before start)."""
        return self._groups.get("edge")

    @property
    def log_dir(self):
        return self._log_dir

    # -- lifecycle
    def start(self):
        """Starts every process; returns when each printed its address.

        On any failure stops what was started and raises RuntimeError (or
        FileNotFoundError when a binary is missing).
        """
        if self._children:
            raise RuntimeError("testbed %s is already started" % self.name)
        for binary in ("stoa-executor", "stoa-linkem", "stoa-gateway"):
            path = os.path.join(self.bin_dir, binary)
            if not os.access(path, os.X_OK):
                raise FileNotFoundError("testbed: %s not found; build it first "
                                        "(cmake --build --preset release)" % path)
        self._tmp = tempfile.mkdtemp(prefix="stoa-testbed-%s-" % self.name)
        # The children run in their own sessions (Ctrl-C reaches only us), so
        # make sure an exiting interpreter never leaves them behind.
        atexit.register(self.stop)
        self._log_dir = self._dir("log_dir", "logs")
        data_dir = self._dir("data_dir", "data")
        try:
            self._start_all(data_dir)
        except BaseException:
            self._keep_tmp = True  # the error names a log in it
            self.stop()
            raise
        return self

    def _dir(self, key, default_sub):
        path = self.config.get(key)
        if path is None:
            path = os.path.join(self._tmp, default_sub)
        elif not os.path.isabs(path):
            path = os.path.join(REPO_ROOT, path)
        os.makedirs(path, exist_ok=True)
        return path

    def _spawn(self, role, binary, args, lines=1, preexec=None):
        child = _Child(role, [os.path.join(self.bin_dir, binary)] + args,
                       os.path.join(self._log_dir, role + ".log"), preexec)
        self._children.append(child)
        child.read_lines(lines, START_TIMEOUT_S)
        self.addresses[role] = child.address(0)
        return child

    def _start_all(self, data_dir):
        cfg = self.config
        cloud = self._spawn("cloud_executor", "stoa-executor", [
            "--listen", "127.0.0.1:0", "--device", "cpu",
            "--threads", str(cfg["cloud"]["threads"]),
            "--intra-op-threads", str(cfg["cloud"]["intra_op_threads"])])
        if cfg["cloud"]["quota_cores"] is not None:
            self._group("cloud")  # moves the running cloud executor in
        edge_group = cpu_quota.CpuGroup(self.name + "-edge", cfg["edge"]["quota_cores"],
                                        cfg["edge"]["quota_period_ms"] * 1000)
        self._groups["edge"] = edge_group
        self.edge_cpu_mode = edge_group.mode
        if edge_group.warning:
            sys.stderr.write("testbed: warning: %s\n" % edge_group.warning)
        edge = self._spawn("edge_executor", "stoa-executor", [
            "--listen", "127.0.0.1:0", "--device", "cpu",
            "--threads", str(cfg["edge"]["threads"]),
            "--intra-op-threads", str(cfg["edge"]["intra_op_threads"])],
            preexec=edge_group.preexec)
        for tier, upstream in (("edge", edge), ("cloud", cloud)):
            args = ["--listen", "127.0.0.1:0", "--upstream", upstream.address(),
                    "--control", "127.0.0.1:0"] + _link_flags(cfg[tier]["link"])
            link = self._spawn(tier + "_link", "stoa-linkem", args, lines=2)
            self.addresses[tier + "_link_control"] = link.address(1)
        gw_args = ["--listen", "127.0.0.1:%d" % cfg["gateway"]["port"],
                   "--data-dir", data_dir,
                   "--edge", self.addresses["edge_link"],
                   "--cloud", self.addresses["cloud_link"],
                   "--http-threads", str(cfg["gateway"]["http_threads"])]
        if cfg["gateway"]["policy"] is not None:
            policy_path = os.path.join(self._tmp, "policy.yaml")
            with open(policy_path, "w", encoding="utf-8") as f:
                yaml.safe_dump(cfg["gateway"]["policy"], f)
            gw_args += ["--policy-file", policy_path]
        self._spawn("gateway", "stoa-gateway", gw_args + self.gateway_args)
        port = self.addresses["gateway"].rsplit(":", 1)[1]
        self.gateway_url = "http://127.0.0.1:%s" % port

    def stop(self):
        """SIGTERM to every process (gateway first), wait, SIGKILL stragglers,
        remove the cgroup and the temporary directory. Idempotent."""
        with self._lock:
            children, self._children = self._children, []
            for child in reversed(children):
                child.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            for child in reversed(children):
                child.wait_or_kill(deadline)
            for group in self._groups.values():
                group.remove()
            self._groups = {}
            if self._tmp is not None:
                keep = os.environ.get("STOA_TESTBED_KEEP")
                if not (keep or self._keep_tmp) and self.config.get("log_dir") is None:
                    shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- executors' CPU
    def _group(self, tier):
        """The CPU group of `tier`'s executor; the cloud's is made (and the
        running executor moved into it) on first use."""
        if tier not in TIERS:
            raise ValueError("tier: expected 'edge' or 'cloud', got %r" % (tier,))
        group = self._groups.get(tier)
        if group is None:
            cfg = self.config[tier]
            group = cpu_quota.CpuGroup(self.name + "-" + tier, cfg["quota_cores"],
                                       cfg["quota_period_ms"] * 1000)
            self._groups[tier] = group
            pid = self.pids.get(tier + "_executor")
            if pid is not None:
                group.join(pid)
        return group

    def set_quota(self, tier, cores):
        """Changes the CPU quota of `tier`'s executor live (None: unlimited).
        ValueError on a bad value; RuntimeError without cgroups."""
        if tier + "_executor" not in self.addresses:
            raise RuntimeError("testbed %s is not started" % self.name)
        self._group(tier).set_quota(cores)
        return self.get_cpu(tier)

    def set_load(self, tier, procs):
        """Runs exactly `procs` CPU-bound background processes in the CPU
        group of `tier`'s executor (0 stops them): they compete with it for
        its quota. ValueError on a bad count; RuntimeError without cgroups."""
        if tier + "_executor" not in self.addresses:
            raise RuntimeError("testbed %s is not started" % self.name)
        self._group(tier).set_busy(procs)
        return self.get_cpu(tier)

    def get_cpu(self, tier):
        """{"quota_cores": cores or None (unlimited), "busy": processes}."""
        group = self._groups.get(tier)
        if group is None:
            return {"quota_cores": self.config[tier]["quota_cores"], "busy": 0}
        return {"quota_cores": group.quota_cores, "busy": group.busy}

    # -- links
    def _control(self, name):
        if name not in ("edge", "cloud"):
            raise ValueError("link name: expected 'edge' or 'cloud', got %r" % (name,))
        address = self.addresses.get(name + "_link_control")
        if address is None:
            raise RuntimeError("testbed %s is not started" % self.name)
        host, port = address.rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=10)

    def set_link(self, name, delay_ms=None, jitter_ms=None, rate_mbit=None, loss=None):
        """Changes link `name` ("edge"|"cloud") live; only the given fields
        change. Returns the new parameters; ValueError on a 400 from linkem."""
        body = {k: v for k, v in (("delay_ms", delay_ms), ("jitter_ms", jitter_ms),
                                  ("rate_mbit", rate_mbit), ("loss", loss))
                if v is not None}
        conn = self._control(name)
        try:
            conn.request("PUT", "/link", json.dumps(body),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if resp.status == 400:
            raise ValueError("set_link(%s): %s" % (name, text))
        if resp.status != 200:
            raise RuntimeError("set_link(%s): HTTP %d %s" % (name, resp.status, text))
        return json.loads(text)

    def get_link(self, name):
        """The current parameters of link `name` as a dict."""
        conn = self._control(name)
        try:
            conn.request("GET", "/link")
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError("get_link(%s): HTTP %d %s" % (name, resp.status, text))
        return json.loads(text)


def _link_flags(link):
    args = []
    if link.get("preset") is not None:
        args += ["--preset", link["preset"]]
    for field, flag in (("delay_ms", "--delay-ms"), ("jitter_ms", "--jitter-ms"),
                        ("rate_mbit", "--rate-mbit"), ("loss", "--loss")):
        if link.get(field) is not None:
            args += [flag, repr(float(link[field]))]
    return args


# ------------------------------------------------------------------------ CLI

def _usage():
    sys.stderr.write("usage: testbed.py up FILE | check FILE\n")
    return 2


def main(argv):
    if len(argv) != 3 or argv[1] not in ("up", "check"):
        return _usage()
    try:
        tb = Testbed.from_yaml(argv[2])
    except ValueError as e:
        sys.stderr.write("testbed: %s\n" % e)
        return 2
    if argv[1] == "check":
        print("testbed %s: %s is valid" % (tb.name, argv[2]))
        return 0

    def on_term(signum, frame):  # SIGTERM behaves like Ctrl-C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        tb.start()
        print("testbed %s up (edge cpu: %s, logs: %s)" % (tb.name, tb.edge_cpu_mode,
                                                           tb.log_dir))
        print("  gateway        %s" % tb.gateway_url)
        for role in ("edge_link", "cloud_link", "edge_executor", "cloud_executor"):
            print("  %-14s %s" % (role, tb.addresses[role]))
        for name in ("edge", "cloud"):
            print("  %-14s PUT http://%s/link" % (name + " control",
                                                    tb.addresses[name + "_link_control"]))
        print("Ctrl-C stops everything.")
        sys.stdout.flush()
        while True:
            dead = [c.role for c in tb._children if c.proc.poll() is not None]
            if dead:
                sys.stderr.write("testbed: %s exited; see %s\n" % (", ".join(dead),
                                                                   tb.log_dir))
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\ntestbed: stopping")
        return 0
    except (RuntimeError, FileNotFoundError) as e:
        sys.stderr.write("testbed: %s\n" % e)
        return 1
    finally:
        tb.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
