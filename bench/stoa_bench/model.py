"""Feeds each scenario phase to the analytical model (`stoa model --json`).

The model's inputs come from the run itself, not from guesses:
  - arrival rate: the fleets active in the phase (devices x rate; a fleet
    counts for the part of the phase it overlaps);
  - edge cores: the edge quota in effect at the phase's midpoint (quota
    actions included; capped by its threads); cloud cores: the cloud
    executor's threads (capped by the machine and by its quota, if any;
    background load from `load` actions is not modelled);
  - links: the parameters the linkems reported at the phase's midpoint
    (RTT = 2 x one-way delay, as linkem delays each direction);
  - processing time per tier: the scenario's model.edge_proc_ms /
    cloud_proc_ms when given, else the scheduler's learned service time
    (state.json, model.service_ms, when the gateway reports it), else
    calibrated from the forced pass's FIRST phase (median of gateway-side
    latency minus RTT): later phases are then true predictions, the first
    phase's edge/cloud rows are a consistency check, not a prediction;
  - link bytes per call: scenario model.request_bytes / response_bytes
    (defaults: 420 / 120, a digits request and reply as gRPC messages).
"""

import json
import os
import subprocess

DEFAULT_REQUEST_BYTES = 420
DEFAULT_RESPONSE_BYTES = 120
UNLIMITED_MBIT = 100000.0


def _links_at(meta, t):
    current = meta["links"][0]["links"] if meta["links"] else {}
    for entry in meta["links"]:
        if entry["t"] <= t:
            current = entry["links"]
    return current


def _cpu_at(meta, t):
    """{tier: {"quota_cores", "busy"}} in effect at `t` (quota/load actions);
    {} for passes recorded before they existed."""
    current = {}
    for entry in meta.get("cpu", []):
        if entry["t"] <= t:
            current = entry["cpu"]
    return current


def _service_ms(state_path, tier):
    """The scheduler's mean service time on `tier` (any function), or None."""
    try:
        with open(state_path, "r", encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    for fn in state.get("functions", {}).values():
        model = (fn.get(tier) or {}).get("model") or {}
        value = model.get("service_ms")
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return None


def arrival_rate(scenario, phase):
    """Requests/s of all fleets over the phase (time-weighted)."""
    length = phase["end_s"] - phase["start_s"]
    total = 0.0
    for f in scenario["fleets"]:
        lo = max(phase["start_s"], f["start_s"])
        hi = min(phase["end_s"], f["start_s"] + f["duration_s"])
        if hi > lo:
            total += f["devices"] * f["rate"] * (hi - lo) / length
    return total


def inputs(scenario, meta, phase, proc_ms):
    """The `stoa model` flags for one phase."""
    tb = meta["testbed"]
    mid = (phase["start_s"] + phase["end_s"]) / 2
    links = _links_at(meta, mid)
    cpu = _cpu_at(meta, mid)
    edge_quota = (cpu.get("edge") or {}).get("quota_cores") or tb["edge"]["quota_cores"]
    edge_cores = min(edge_quota, tb["edge"]["threads"])
    cloud_cores = min(tb["cloud"]["threads"], os.cpu_count() or 1)
    cloud_quota = (cpu.get("cloud") or {}).get("quota_cores") or tb["cloud"].get("quota_cores")
    if cloud_quota:
        cloud_cores = min(cloud_cores, cloud_quota)
    m = scenario["model"]
    flags = {"devices": 1, "rate": max(arrival_rate(scenario, phase), 1e-6),
             "request-bytes": m.get("request_bytes", DEFAULT_REQUEST_BYTES),
             "response-bytes": m.get("response_bytes", DEFAULT_RESPONSE_BYTES),
             "edge-proc-ms": proc_ms["edge"], "edge-cores": edge_cores,
             "cloud-proc-ms": proc_ms["cloud"], "cloud-cores": cloud_cores}
    for tier in ("edge", "cloud"):
        link = links.get(tier, {})
        flags["%s-rtt-ms" % tier] = 2.0 * float(link.get("delay_ms", 0.0))
        rate = float(link.get("rate_mbit", 0.0))
        flags["%s-rate-mbit" % tier] = rate if rate > 0 else UNLIMITED_MBIT
    return flags


def calibrated_proc_ms(rows, meta, tier, phase):
    """Median over 2xx rows of `phase` of (gateway-side latency - link RTT):
    processing plus gateway overhead at that phase's load; None if no row."""
    link = _links_at(meta, phase["start_s"]).get(tier, {})
    rtt = 2.0 * float(link.get("delay_ms", 0.0))
    values = sorted(r["server_latency_ms"] - rtt for r in rows
                    if 200 <= r["status"] < 300 and r.get("server_latency_ms", -1) >= 0
                    and phase["start_s"] <= r["t"] < phase["end_s"])
    if not values:
        return None
    return max(values[len(values) // 2], 0.01)


def proc_times(scenario, passes):
    """{tier: (ms, source)}: the scenario's model.<tier>_proc_ms, else the
    scheduler's learned service time (state.json of the forced pass), else
    calibrated from the forced pass's first phase (calibrated_proc_ms)."""
    out = {}
    for tier, policy in (("edge", "edge_only"), ("cloud", "cloud_only")):
        given = scenario["model"].get("%s_proc_ms" % tier)
        if given is not None:
            out[tier] = (given, "scenario")
            continue
        forced = passes.get(policy)
        learned = None
        if forced is not None:
            learned = _service_ms(os.path.join(forced["dir"], "state.json"), tier)
        if learned:
            out[tier] = (learned, "scheduler's learned service time")
            continue
        calibrated = None
        if forced is not None:
            calibrated = calibrated_proc_ms(forced["rows"], forced["meta"], tier,
                                            scenario["phases"][0])
        if calibrated is not None:
            # Measured on the tier as it is (a half-core quota runs a request
            # at half speed); the model wants the time on one full core.
            cores = forced["meta"]["testbed"][tier].get("quota_cores", 1.0)
            out[tier] = (calibrated * min(1.0, cores),
                         "calibrated: median gateway-side latency - RTT in phase %s of %s, "
                         "x %g for the quota" % (scenario["phases"][0]["name"], policy,
                                                 min(1.0, cores)))
        else:
            out[tier] = (0.2, "assumed, nothing measured")
    return out


def predict(stoa_binary, flags):
    """Runs `stoa model --json`; returns its parsed output."""
    args = [stoa_binary, "model", "--json"]
    for key, value in flags.items():
        args += ["--" + key, repr(float(value)) if key != "devices" else str(value)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)
