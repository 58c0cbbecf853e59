"""Runs one scenario pass (one policy) on a fresh testbed.

run_pass starts the testbed (deploy/testbed/testbed.py; its quotas scaled
to the host first when the scenario says `calibrate`: calibrate and
calibrated below), sets the policy,
registers the functions, warms each tier up (one forced request per tier,
unless the scenario says warmup: false; a tier whose CPU quota makes that
request miss its deadline is warmed again with the quota lifted, noted as
warmup_quota_lifted in pass.json and the report), then starts the fleets
(stoa-loadgen processes) and applies the actions at their times. It writes
into `pass_dir`: fleet-<i>.csv and fleet-<i>.log per fleet, state.json
(GET /v1/scheduler/state at the end), trace.jsonl (the gateway's
--trace-file: every decision and outcome), pass.json (policy, link parameters
over time, exit codes, whether it was interrupted).

Ctrl-C (KeyboardInterrupt) sends SIGINT to every loadgen (each writes the
CSV of what it sent), waits for them, stops the testbed and re-raises, so
partial results are kept and no process is left behind.
"""

import base64
import copy
import http.client
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "testbed"))
import testbed as testbed_mod  # noqa: E402  (part of this repository)

DIGITS_SAMPLE = os.path.join(HERE, "..", "..", "functions", "examples", "digits",
                             "sample_request.json")


def _request(url, method, path, body=None, timeout=30):
    host, port = url[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _check(status, text, what):
    if status // 100 != 2:
        raise RuntimeError("%s: HTTP %d %s" % (what, status, text[:300]))


def register(url, fn):
    with open(fn["artifact"], "rb") as f:
        artifact = base64.b64encode(f.read()).decode("ascii")
    spec = {"name": fn["name"], "runtime": "onnx", "tiers": fn["tiers"],
            "limits": {"timeout_ms": fn["timeout_ms"]}, "artifact_base64": artifact}
    status, text = _request(url, "POST", "/v1/functions", json.dumps(spec))
    _check(status, text, "register %s" % fn["name"])


def warm_up_body(scenario, fn):
    """A request body for `fn`: the first payload of a fleet that sends to
    it (one JSON body per line), else the digits sample."""
    for fleet in scenario["fleets"]:
        if fleet["function"] == fn["name"] and fleet["payload"] != "digits":
            with open(fleet["payload"], "r", encoding="utf-8") as f:
                text = f.read()
            first = text.strip().split("\n", 1)[0]
            try:
                json.loads(first)
                return first
            except ValueError:
                return text  # a single body over several lines
    with open(DIGITS_SAMPLE, "r", encoding="utf-8") as f:
        return f.read()


def warm_up(url, fn, body, tb=None, lifted=None):
    """One forced request per tier. A tier held to a CPU quota so small that
    the first request (the model's load) misses its deadline (HTTP 504) is
    warmed up again with its quota lifted, then the quota is put back before
    the pass starts; `lifted` (a list) gets a note of each such tier."""
    for tier in fn["tiers"]:
        path = "/v1/functions/%s/invoke?tier=%s" % (fn["name"], tier)
        status, text = _request(url, "POST", path, body)
        if status == 504 and tb is not None:
            quota = tb.get_cpu(tier)["quota_cores"]
            if quota is not None:
                tb.set_quota(tier, None)
                try:
                    status, text = _request(url, "POST", path, body)
                finally:
                    tb.set_quota(tier, quota)
                if lifted is not None:
                    lifted.append({"function": fn["name"], "tier": tier, "quota_cores": quota})
        _check(status, text, "warm-up of %s on %s" % (fn["name"], tier))


def _cpu_ns(pid):
    """CPU time (ns) the threads of process `pid` have run so far
    (/proc/PID/task/*/schedstat; a thread gone between reads is skipped)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid), "r") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


CALIBRATION_ROUNDS = 3


def calibrate(scenario, bin_dir):
    """Measures what one request of scenario["calibrate"]["function"] costs
    the edge executor in CPU (the highest of CALIBRATION_ROUNDS rounds), on
    a testbed of its own with the edge's quota lifted, and returns the
    factor its `utilization` asks of the testbed's quotas: {"cpu_ms": per request, "rate": req/s the fleets send to the
    function, "scale": >= 1, "quotas": {tier: cores after scaling}, ...}.
    Without cgroups (the edge pinned, not held to a quota) the factor is 1
    and "skipped" says why. RuntimeError if a request fails."""
    cal = scenario["calibrate"]
    fn = next(f for f in scenario["functions"] if f["name"] == cal["function"])
    config = testbed_mod.load_yaml(scenario["testbed"])
    rate = sum(f["devices"] * f["rate"] for f in scenario["fleets"]
               if f["function"] == fn["name"])
    result = {"function": fn["name"], "tier": "edge", "utilization": cal["utilization"],
              "requests": cal["requests"], "rate": rate, "scale": 1.0}
    tb = testbed_mod.Testbed(config, bin_dir=bin_dir)
    try:
        tb.start()
        if tb.edge_cpu_mode != "cgroup":
            result["skipped"] = "the edge executor is %s, not under a cgroup quota" % (
                tb.edge_cpu_mode,)
            return result
        url = tb.gateway_url
        register(url, fn)
        body = warm_up_body(scenario, fn)
        path = "/v1/functions/%s/invoke?tier=edge" % fn["name"]
        quota = tb.get_cpu("edge")["quota_cores"]
        tb.set_quota("edge", None)
        for _ in range(5):  # the model's load and first runs are not counted
            status, text = _request(url, "POST", path, body)
            _check(status, text, "calibration warm-up of %s on the edge" % fn["name"])
        pid = tb.pids["edge_executor"]
        # Three rounds, the highest taken: on a noisy VM a frame's cost
        # moves by a third from minute to minute, and an edge given too
        # little quota queues (docs/benchmarks.md, twenty-third session).
        rounds = []
        for _ in range(CALIBRATION_ROUNDS):
            before = _cpu_ns(pid)
            for _ in range(cal["requests"]):
                status, text = _request(url, "POST", path, body)
                _check(status, text, "calibration request of %s on the edge" % fn["name"])
            rounds.append((_cpu_ns(pid) - before) / 1e9 / cal["requests"])
        cpu_s = max(rounds)
    finally:
        tb.stop()
    result["rounds_cpu_ms"] = [round(r * 1000, 3) for r in rounds]
    result["cpu_ms"] = round(cpu_s * 1000, 3)
    result["edge_quota_cores"] = quota
    needed = rate * cpu_s / cal["utilization"]
    result["scale"] = round(max(1.0, needed / quota), 2)
    return result


def calibrated(scenario, calibration):
    """A copy of `scenario` whose testbed (scenario["testbed_config"]) and
    quota actions have their CPU quotas multiplied by calibration["scale"],
    each capped by the machine's cores and the executor's threads."""
    s = copy.deepcopy(scenario)
    config = testbed_mod.load_yaml(scenario["testbed"])  # a fresh dict
    scale = calibration["scale"]
    cores = float(os.cpu_count() or 1)

    def scaled(tier, value):
        return round(min(value * scale, cores, float(config[tier]["threads"])), 3)
    for tier in ("edge", "cloud"):
        if config[tier]["quota_cores"] is not None:
            config[tier]["quota_cores"] = scaled(tier, config[tier]["quota_cores"])
    for action in s["actions"]:
        if action["kind"] == "quota":
            action["set"]["cores"] = scaled(action["target"], action["set"]["cores"])
    s["testbed_config"] = config
    s["calibration"] = dict(calibration, quotas={t: config[t]["quota_cores"]
                                                 for t in ("edge", "cloud")})
    return s


def _links(tb):
    return {name: tb.get_link(name) for name in ("edge", "cloud")}


def _cpu(tb):
    return {name: tb.get_cpu(name) for name in ("edge", "cloud")}


def apply_action(tb, action):
    """Applies one scenario action to the running testbed `tb`."""
    kind, target, changes = action["kind"], action["target"], action["set"]
    if kind == "link":
        tb.set_link(target, **changes)
    elif kind == "quota":
        tb.set_quota(target, changes["cores"])
    else:
        tb.set_load(target, changes["procs"])


class _Fleets:
    """The loadgen processes of one pass."""

    def __init__(self, loadgen, url, pass_dir):
        self.loadgen, self.url, self.pass_dir = loadgen, url, pass_dir
        self.procs = []  # (index, Popen, log file)

    def start(self, i, fleet):
        args = [self.loadgen, "--gateway", self.url, "--function", fleet["function"],
                "--devices", str(fleet["devices"]), "--rate", repr(float(fleet["rate"])),
                "--arrivals", fleet["arrivals"], "--duration",
                repr(float(fleet["duration_s"])), "--payload", fleet["payload"],
                "--connections", str(fleet["connections"]), "--seed", str(fleet["seed"]),
                "--out", os.path.join(self.pass_dir, "fleet-%d.csv" % i)]
        log = open(os.path.join(self.pass_dir, "fleet-%d.log" % i), "wb")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((i, proc, log))

    def running(self):
        return any(p.poll() is None for _, p, _ in self.procs)

    def interrupt(self, grace_s=15.0):
        for _, p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for _, p, _ in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self):
        for _, p, log in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
        return {str(i): p.returncode for i, p, _ in self.procs}


def _say(msg):
    sys.stderr.write("stoa-bench: %s\n" % msg)
    sys.stderr.flush()


def run_pass(scenario, policy, bin_dir, loadgen, pass_dir, shadow_rate=0.0, policy_params=None):
    """Runs `scenario` under `policy`; returns the pass metadata dict.
    `shadow_rate` > 0 asks the scheduler to shadow-execute that share of
    requests on the other tier (its accuracy then lands in state.json);
    `policy_params` (a dict) are more fields of the policy document, e.g.
    {"late_hedge": false}."""
    os.makedirs(pass_dir, exist_ok=True)
    meta = {"scenario": scenario["name"], "policy": policy, "interrupted": False,
            "duration_s": scenario["duration_s"], "links": [], "cpu": [], "actions": []}
    # Every decision, outcome and status probe, for `stoa replay` and the
    # per-phase report (bench/stoa_bench/phases.py).
    trace = os.path.join(os.path.abspath(pass_dir), "trace.jsonl")
    config = scenario.get("testbed_config") or testbed_mod.load_yaml(scenario["testbed"])
    tb = testbed_mod.Testbed(config, bin_dir=bin_dir, gateway_args=["--trace-file", trace])
    meta["testbed"] = tb.config
    if "calibration" in scenario:
        meta["calibration"] = scenario["calibration"]
    fleets = None
    try:
        tb.start()
        meta["edge_cpu_mode"] = tb.edge_cpu_mode
        url = tb.gateway_url
        doc = {"policy": policy}
        doc.update(policy_params or {})
        if shadow_rate > 0:
            doc["shadow_rate"] = shadow_rate
        meta["shadow_rate"] = shadow_rate
        meta["policy_doc"] = doc
        status, text = _request(url, "PUT", "/v1/policy", json.dumps(doc))
        _check(status, text, "set policy %s" % policy)
        meta["warmup_quota_lifted"] = []
        for fn in scenario["functions"]:
            register(url, fn)
            if scenario["warmup"]:
                warm_up(url, fn, warm_up_body(scenario, fn), tb, meta["warmup_quota_lifted"])
        meta["links"].append({"t": 0.0, "links": _links(tb)})
        meta["cpu"].append({"t": 0.0, "cpu": _cpu(tb)})
        # When the pass's fleets started (the report's "run:" line).
        meta["started_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        fleets = _Fleets(loadgen, url, pass_dir)
        pending = sorted([(f["start_s"], "fleet", i) for i, f in enumerate(scenario["fleets"])]
                         + [(a["at_s"], "action", i) for i, a in enumerate(scenario["actions"])],
                         key=lambda e: (e[0], e[1] != "fleet"))
        t0 = time.monotonic()
        last_note = 0.0
        while pending or fleets.running():
            now = time.monotonic() - t0
            while pending and pending[0][0] <= now:
                at, kind, i = pending.pop(0)
                if kind == "fleet":
                    fleets.start(i, scenario["fleets"][i])
                else:
                    action = scenario["actions"][i]
                    apply_action(tb, action)
                    meta["actions"].append({"t": round(now, 3), "kind": action["kind"],
                                            "target": action["target"],
                                            "set": action["set"]})
                    meta["links"].append({"t": action["at_s"], "links": _links(tb)})
                    meta["cpu"].append({"t": action["at_s"], "cpu": _cpu(tb)})
                    _say("  t=%.0fs %s %s <- %s" % (now, action["target"], action["kind"],
                                                     json.dumps(action["set"])))
            if now - last_note >= 10:
                _say("  %s: t=%.0fs/%.0fs" % (policy, now, scenario["duration_s"]))
                last_note = now
            time.sleep(0.05)
        status, text = _request(url, "GET", "/v1/scheduler/state")
        if status == 200:
            with open(os.path.join(pass_dir, "state.json"), "w", encoding="utf-8") as f:
                f.write(text)
    except KeyboardInterrupt:
        meta["interrupted"] = True
        if fleets is not None:
            fleets.interrupt()
        raise
    finally:
        if fleets is not None:
            meta["loadgen_exit"] = fleets.close()
        tb.stop()
        with open(os.path.join(pass_dir, "pass.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, default=str)
    return meta
