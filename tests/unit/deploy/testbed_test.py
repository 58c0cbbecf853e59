#!/usr/bin/python3
"""Tests of deploy/testbed/testbed.py: YAML validation and the CLI's `check`
(label unit, no binaries); with STOA_TESTBED_LAUNCH=1 also a real start and
stop of the lan testbed from $STOA_BIN_DIR (label integration)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import urllib.request

SOURCE = os.environ.get("STOA_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TESTBED_DIR = os.path.join(SOURCE, "deploy", "testbed")
sys.path.insert(0, TESTBED_DIR)
import cpu_quota  # noqa: E402
import testbed  # noqa: E402

GOOD = """
name: t
gateway: {port: 0, http_threads: 2, policy: {policy: predictive}}
edge:  {quota_cores: 0.5, threads: 1, link: {preset: edge}}
cloud: {threads: 2, link: {preset: 4g, rate_mbit: 2}}
"""


def write(text):
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(textwrap.dedent(text))
    f.close()
    return f.name


class ValidationTest(unittest.TestCase):
    def assertRejects(self, text, *needles):
        path = write(text)
        try:
            with self.assertRaises(ValueError) as ctx:
                testbed.Testbed.from_yaml(path)
            for needle in needles:
                self.assertIn(needle, str(ctx.exception))
        finally:
            os.unlink(path)

    def test_example_files_are_valid(self):
        for name in ("4g", "5g", "lan"):
            tb = testbed.Testbed.from_yaml(os.path.join(TESTBED_DIR, name + ".yaml"))
            self.assertEqual(tb.name, name)
        tb = testbed.Testbed.from_yaml(os.path.join(TESTBED_DIR, "4g.yaml"))
        self.assertEqual(tb.config["cloud"]["link"]["preset"], "4g")
        self.assertEqual(tb.config["edge"]["quota_cores"], 0.5)

    def test_good_file_normalised(self):
        path = write(GOOD)
        cfg = testbed.Testbed.from_yaml(path).config
        os.unlink(path)
        self.assertEqual(cfg["cloud"]["link"]["rate_mbit"], 2)
        self.assertIsNone(cfg["cloud"]["link"]["delay_ms"])
        self.assertEqual(cfg["gateway"]["policy"], {"policy": "predictive"})

    def test_defaults(self):
        path = write("name: d\nedge: {}\ncloud: {}\n")
        cfg = testbed.Testbed.from_yaml(path).config
        os.unlink(path)
        self.assertEqual(cfg["gateway"]["port"], 0)
        self.assertEqual(cfg["edge"]["threads"], 1)
        self.assertEqual(cfg["edge"]["intra_op_threads"], 1)
        self.assertEqual(cfg["cloud"]["intra_op_threads"], 1)
        self.assertIsNone(cfg["edge"]["link"]["preset"])

    def test_bad_fields_are_named(self):
        self.assertRejects(GOOD.replace("name: t", "name: ''"), "name")
        self.assertRejects(GOOD.replace("name: t", "name: t\ncolour: red"), "colour")
        self.assertRejects(GOOD.replace("preset: 4g", "preset: 3g"), "cloud.link.preset", "3g")
        self.assertRejects(GOOD.replace("rate_mbit: 2", "rate_mbit: -2"), "cloud.link.rate_mbit")
        self.assertRejects(GOOD.replace("rate_mbit: 2", "loss: 1.5"), "cloud.link.loss")
        self.assertRejects(GOOD.replace("rate_mbit: 2", "delay: 5"), "cloud.link.delay")
        self.assertRejects(GOOD.replace("rate_mbit: 2", "delay_ms: fast"),
                           "cloud.link.delay_ms", "number")
        self.assertRejects(GOOD.replace("quota_cores: 0.5", "quota_cores: 0"), "edge.quota_cores")
        self.assertRejects(GOOD.replace("quota_cores: 0.5", "quota_cores: 64"), "edge.quota_cores")
        self.assertRejects(GOOD.replace("threads: 1", "threads: 1.5"), "edge.threads", "integer")
        self.assertRejects(GOOD.replace("cloud: {threads: 2,", "cloud: {threads: 2, intra_op_threads: 0,"),
                           "cloud.intra_op_threads")
        self.assertRejects(GOOD.replace("port: 0", "port: 70000"), "gateway.port")
        self.assertRejects(GOOD.replace("predictive", "fastest"), "gateway.policy.policy")
        self.assertRejects(GOOD.replace("cloud: {threads: 2, link: {preset: 4g, rate_mbit: 2}}", ""),
                           "cloud", "required")
        self.assertRejects(GOOD.replace("link: {preset: edge}", "link: fast"),
                           "edge.link", "mapping")
        self.assertRejects("- a\n- b\n", "top level")
        self.assertRejects("name: [\n", "malformed YAML")

    def test_missing_file(self):
        with self.assertRaises(ValueError) as ctx:
            testbed.Testbed.from_yaml("/nonexistent/testbed.yaml")
        self.assertIn("cannot read", str(ctx.exception))

    def test_cli_check(self):
        script = os.path.join(TESTBED_DIR, "testbed.py")
        ok = subprocess.run([sys.executable, script, "check",
                             os.path.join(TESTBED_DIR, "4g.yaml")], capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("valid", ok.stdout)
        path = write(GOOD.replace("preset: edge", "preset: moon"))
        bad = subprocess.run([sys.executable, script, "check", path], capture_output=True, text=True)
        os.unlink(path)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("edge.link.preset", bad.stderr)

    def test_set_link_before_start(self):
        tb = testbed.Testbed.from_yaml(os.path.join(TESTBED_DIR, "lan.yaml"))
        with self.assertRaises(ValueError):
            tb.set_link("fog", delay_ms=1)
        with self.assertRaises(RuntimeError):
            tb.set_link("cloud", delay_ms=1)


FAKE = """#!/bin/sh
# A stand-in for a Stoa binary: records its argv, prints its address lines.
echo "$0 $*" >> "$(dirname "$0")/argv.log"
case "$(basename "$0")" in
  stoa-executor) [ -e "$(dirname "$0")/fail" ] && { echo boom >&2; exit 3; }
                 echo "stoa-executor listening on 127.0.0.1:$$" ;;
  stoa-linkem)   echo "stoa-linkem listening on 127.0.0.1:1$$"
                 echo "stoa-linkem control on 127.0.0.1:2$$" ;;
  stoa-gateway)  echo "stoa-gateway listening on 127.0.0.1:3$$" ;;
esac
exec sleep 30
"""


class LauncherWithFakeBinariesTest(unittest.TestCase):
    def setUp(self):
        self.saved_root = cpu_quota.CGROUP_CPU_ROOT
        cpu_quota.CGROUP_CPU_ROOT = tempfile.mkdtemp()  # no real cgroup needed
        self.bin = tempfile.mkdtemp()
        for name in ("stoa-executor", "stoa-linkem", "stoa-gateway"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(FAKE)
            os.chmod(path, 0o755)
        self.yaml = write(GOOD)

    def tearDown(self):
        shutil.rmtree(cpu_quota.CGROUP_CPU_ROOT, ignore_errors=True)
        shutil.rmtree(self.bin, ignore_errors=True)
        cpu_quota.CGROUP_CPU_ROOT = self.saved_root
        os.unlink(self.yaml)

    def test_wiring_and_stop(self):
        tb = testbed.Testbed.from_yaml(self.yaml, bin_dir=self.bin)
        with tb:
            pids = tb.pids
            self.assertEqual(len(pids), 5)
            self.assertTrue(tb.gateway_url.startswith("http://127.0.0.1:3"))
            with open(os.path.join(self.bin, "argv.log")) as f:
                lines = f.read().splitlines()
            gateway = [l for l in lines if "stoa-gateway" in l][0].split()
            self.assertEqual(gateway[gateway.index("--edge") + 1], tb.addresses["edge_link"])
            self.assertEqual(gateway[gateway.index("--cloud") + 1], tb.addresses["cloud_link"])
            policy = gateway[gateway.index("--policy-file") + 1]
            with open(policy) as f:
                self.assertIn("predictive", f.read())
            links = [l.split() for l in lines if "stoa-linkem" in l]
            edge, cloud = links
            self.assertEqual(edge[edge.index("--upstream") + 1], tb.addresses["edge_executor"])
            self.assertEqual(edge[edge.index("--preset") + 1], "edge")
            self.assertEqual(cloud[cloud.index("--preset") + 1], "4g")
            self.assertEqual(float(cloud[cloud.index("--rate-mbit") + 1]), 2.0)
            self.assertEqual(tb.edge_cpu_mode, "cgroup")
            with open(os.path.join(tb._quota.path, "cgroup.procs")) as f:
                self.assertEqual(f.read().strip(), str(pids["edge_executor"]))
            for name in os.listdir(tb._quota.path):  # a real cgroup dir rmdirs as is
                os.unlink(os.path.join(tb._quota.path, name))
            cgroup = tb._quota.path
        self.assertFalse(os.path.exists(cgroup))
        self.assertEqual(tb.pids, {})
        for pid in pids.values():
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)

    def test_failed_start_stops_everything_and_names_the_process(self):
        open(os.path.join(self.bin, "fail"), "w").close()
        tb = testbed.Testbed.from_yaml(self.yaml, bin_dir=self.bin)
        with self.assertRaises(RuntimeError) as ctx:
            tb.start()
        self.assertIn("cloud_executor", str(ctx.exception))
        self.assertIn("boom", str(ctx.exception))
        self.assertEqual(tb.pids, {})
        self.assertIn(tb.log_dir, str(ctx.exception))  # kept for the reader
        self.assertTrue(os.path.exists(os.path.join(tb.log_dir, "cloud_executor.log")))
        shutil.rmtree(os.path.dirname(tb.log_dir))

    def test_missing_binary(self):
        os.unlink(os.path.join(self.bin, "stoa-linkem"))
        with self.assertRaises(FileNotFoundError):
            testbed.Testbed.from_yaml(self.yaml, bin_dir=self.bin).start()


class CpuQuotaTest(unittest.TestCase):
    def setUp(self):
        self.saved_root = cpu_quota.CGROUP_CPU_ROOT

    def tearDown(self):
        cpu_quota.CGROUP_CPU_ROOT = self.saved_root

    def test_cgroup_files_hold_the_quota(self):
        root = tempfile.mkdtemp()  # stands in for /sys/fs/cgroup/cpu
        cpu_quota.CGROUP_CPU_ROOT = root
        quota = cpu_quota.CpuGroup("t-edge", 0.5)
        self.assertEqual(quota.mode, "cgroup")
        with open(os.path.join(quota.path, "cpu.cfs_period_us")) as f:
            self.assertEqual(f.read(), "100000")
        with open(os.path.join(quota.path, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read(), "50000")
        for name in os.listdir(quota.path):  # a real cgroup dir has no files to delete
            os.unlink(os.path.join(quota.path, name))
        path = quota.path
        quota.remove()
        self.assertFalse(os.path.exists(path))
        os.rmdir(root)

    def test_live_quota_and_background_load(self):
        root = tempfile.mkdtemp()  # stands in for /sys/fs/cgroup/cpu
        cpu_quota.CGROUP_CPU_ROOT = root
        group = cpu_quota.CpuGroup("t-cloud", None, 20000)
        with open(os.path.join(group.path, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read(), "-1")  # unlimited until told
        group.set_quota(0.05)
        with open(os.path.join(group.path, "cpu.cfs_period_us")) as f:
            self.assertEqual(f.read(), "20000")
        with open(os.path.join(group.path, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read(), "1000")
        group.set_quota(0.01)  # below the kernel's 1 ms: clamped
        with open(os.path.join(group.path, "cpu.cfs_quota_us")) as f:
            self.assertEqual(f.read(), "1000")
        for bad in (0, -1, "1", True):
            with self.assertRaises(ValueError):
                group.set_quota(bad)
        group.set_busy(3)
        pids = [p.pid for p in group._busy]
        self.assertEqual(group.busy, 3)
        with open(os.path.join(group.path, "cgroup.procs")) as f:
            self.assertEqual(f.read(), str(pids[-1]))  # each joined before exec
        group.set_busy(1)
        self.assertEqual(group.busy, 1)
        for pid in pids[1:]:
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)
        with self.assertRaises(ValueError):
            group.set_busy(-1)
        for name in os.listdir(group.path):
            os.unlink(os.path.join(group.path, name))
        group.remove()  # stops the last one too
        with self.assertRaises(ProcessLookupError):
            os.kill(pids[0], 0)
        os.rmdir(root)

    def test_falls_back_to_pinning_with_a_warning(self):
        blocker = tempfile.NamedTemporaryFile(delete=False)  # a file: no dir below it
        cpu_quota.CGROUP_CPU_ROOT = blocker.name
        quota = cpu_quota.CpuGroup("t-edge", 0.5)
        os.unlink(blocker.name)
        self.assertEqual(quota.mode, "pinned")
        self.assertIn("pinned to one CPU", quota.warning)
        out = subprocess.run([sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"],
                             capture_output=True, text=True, preexec_fn=quota.preexec)
        self.assertEqual(out.stdout.strip(), "1")
        with self.assertRaises(RuntimeError):  # live changes need the cgroup
            quota.set_quota(0.5)
        with self.assertRaises(RuntimeError):
            quota.set_busy(1)
        quota.remove()  # nothing to remove; must not fail


@unittest.skipUnless(os.environ.get("STOA_TESTBED_LAUNCH") == "1",
                     "set STOA_TESTBED_LAUNCH=1 (the integration variant of this test)")
class LaunchTest(unittest.TestCase):
    def test_start_set_link_stop(self):
        path = os.path.join(TESTBED_DIR, "lan.yaml")
        with testbed.Testbed.from_yaml(path, bin_dir=os.environ["STOA_BIN_DIR"]) as tb:
            pids = tb.pids
            self.assertEqual(set(pids), {"gateway", "edge_executor", "cloud_executor",
                                         "edge_link", "cloud_link"})
            state = json.loads(urllib.request.urlopen(
                tb.gateway_url + "/v1/scheduler/state", timeout=10).read())
            self.assertIn("tiers", state)
            new = tb.set_link("cloud", delay_ms=20, rate_mbit=5)
            self.assertEqual(new["delay_ms"], 20)
            self.assertEqual(tb.get_link("cloud")["rate_mbit"], 5)
            self.assertEqual(tb.get_link("edge")["delay_ms"], 0)
            with self.assertRaises(ValueError):
                tb.set_link("edge", loss=3)
            cgroup = tb._quota.path
            if tb.edge_cpu_mode == "cgroup":
                with open("/proc/%d/cgroup" % pids["edge_executor"]) as f:
                    self.assertIn(os.path.basename(cgroup), f.read())
                # Live quota and load: the cloud executor is moved into a
                # group of its own on first use.
                self.assertEqual(tb.set_quota("edge", 0.25)["quota_cores"], 0.25)
                self.assertEqual(tb.set_load("cloud", 2), {"quota_cores": None, "busy": 2})
                cloud_group = tb._groups["cloud"].path
                with open("/proc/%d/cgroup" % pids["cloud_executor"]) as f:
                    self.assertIn(os.path.basename(cloud_group), f.read())
                with open(os.path.join(cloud_group, "cgroup.procs")) as f:
                    self.assertEqual(len(f.read().split()), 3)
                tb.set_load("cloud", 0)
        for pid in pids.values():
            self.assertFalse(os.path.exists("/proc/%d/status" % pid) and
                             "zombie" not in open("/proc/%d/status" % pid).read(),
                             "pid %d still running" % pid)
        if cgroup:
            self.assertFalse(os.path.exists(cgroup))
            self.assertFalse(os.path.exists(cloud_group))


if __name__ == "__main__":
    unittest.main(verbosity=2)
