"""Scenario files for stoa-bench: parsing and validation.

A scenario names its testbed file, the functions to register, the fleets
that load them, the actions taken at given times and the phases the report
breaks results into. Every field is checked before anything starts; a bad
one raises ValueError naming it ("fleets[1].rate: must be > 0, got -2").

    name: degrade-recover
    description: 4G link degrades to 2 Mbit/s + 150 ms at t=60 s ...
    testbed: deploy/testbed/4g.yaml       # relative to the repository root
    duration_s: 180                       # length of each policy's pass
    warmup: true                          # one request per tier before the load
    functions:
      - {name: digits, artifact: functions/examples/digits/digits.onnx,
         tiers: [edge, cloud], timeout_ms: 5000}
    fleets:                               # stoa-loadgen instances
      - {function: digits, devices: 10, rate: 5, arrivals: poisson,
         payload: digits, start_s: 0, duration_s: 180, measured: true}
    actions:                              # at_s + one of: link, quota, load
      - {at_s: 60, link: cloud, delay_ms: 150, rate_mbit: 2}   # the linkem, live
      - {at_s: 90, quota: edge, cores: 0.25}  # the executor's cgroup CPU quota
      - {at_s: 120, load: cloud, procs: 3}    # busy loops in its cgroup (0: stop)
    phases:                               # [start_s, end_s) in the report
      - {name: steady, start_s: 0, end_s: 60}
    policies: [predictive, edge_only, cloud_only, round_robin, random]
    model: {request_bytes: 420, response_bytes: 120}   # link bytes per call
    calibrate: {function: vision, utilization: 0.2}      # optional, below

`calibrate` scales the testbed's CPU quotas to the host: before the passes,
stoa-bench measures the CPU one request of `function` costs the edge
executor (the highest of three rounds of `requests` forced requests, its
quota lifted; runner.calibrate) and multiplies
both tiers' quotas (and the scenario's quota actions) by one factor, so
that the fleets' rate to that function uses at most `utilization` of the
edge's quota; a host fast enough runs the testbed as written (the factor
is never under 1). stoa-bench run --no-calibrate skips it.

`scaled(s, factor)` shrinks every time in a scenario (for --quick).
"""

import copy
import math
import os

import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POLICIES = ("predictive", "edge_only", "cloud_only", "round_robin", "random")
TIERS = ("edge", "cloud")
LINK_FIELDS = ("delay_ms", "jitter_ms", "rate_mbit", "loss")
ACTION_KINDS = ("link", "quota", "load")


def _fail(field, problem):
    raise ValueError("%s: %s" % (field, problem))


def _mapping(value, field):
    if not isinstance(value, dict):
        _fail(field, "expected a mapping, got %r" % (value,))
    return value


def _keys(section, field, allowed, required=()):
    for key in section:
        if key not in allowed:
            _fail("%s.%s" % (field, key) if field else str(key),
                  "unknown field (expected one of: %s)" % ", ".join(allowed))
    for key in required:
        if key not in section:
            _fail("%s.%s" % (field, key) if field else key, "required")


def _number(section, key, field, default=None, minimum=None, maximum=None,
            positive=False, integer=False):
    name = "%s.%s" % (field, key) if field else key
    if key not in section:
        if default is None:
            _fail(name, "required")
        return default
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        _fail(name, "expected a number, got %r" % (value,))
    if integer and not isinstance(value, int):
        _fail(name, "expected an integer, got %r" % (value,))
    if positive and value <= 0:
        _fail(name, "must be > 0, got %r" % (value,))
    if minimum is not None and value < minimum:
        _fail(name, "must be >= %s, got %r" % (minimum, value))
    if maximum is not None and value > maximum:
        _fail(name, "must be <= %s, got %r" % (maximum, value))
    return value


def _string(section, key, field, default=None, choices=None):
    name = "%s.%s" % (field, key) if field else key
    if key not in section:
        if default is None:
            _fail(name, "required")
        return default
    value = section[key]
    if not isinstance(value, str) or not value:
        _fail(name, "expected a non-empty string, got %r" % (value,))
    if choices is not None and value not in choices:
        _fail(name, "expected one of %s, got %r" % (", ".join(choices), value))
    return value


def _list(section, key, field, required=True):
    name = "%s.%s" % (field, key) if field else key
    if key not in section:
        if required:
            _fail(name, "required")
        return []
    value = section[key]
    if not isinstance(value, list) or (required and not value):
        _fail(name, "expected a non-empty list, got %r" % (value,))
    return value


def _path(value, field):
    path = value if os.path.isabs(value) else os.path.join(REPO_ROOT, value)
    if not os.path.isfile(path):
        _fail(field, "no such file %r" % (value,))
    return path


def _function(doc, i):
    field = "functions[%d]" % i
    _mapping(doc, field)
    _keys(doc, field, ("name", "artifact", "tiers", "timeout_ms"), ("name", "artifact"))
    fn = {"name": _string(doc, "name", field),
          "artifact": _path(_string(doc, "artifact", field), field + ".artifact"),
          "tiers": list(TIERS), "timeout_ms": 5000}
    if "tiers" in doc:
        tiers = doc["tiers"]
        if not isinstance(tiers, list) or not tiers or any(t not in TIERS for t in tiers):
            _fail(field + ".tiers", "expected a non-empty list of edge/cloud, got %r"
                  % (tiers,))
        fn["tiers"] = tiers
    fn["timeout_ms"] = _number(doc, "timeout_ms", field, 5000, positive=True,
                               integer=True)
    return fn


def _fleet(doc, i, duration_s, functions):
    field = "fleets[%d]" % i
    _mapping(doc, field)
    _keys(doc, field, ("function", "devices", "rate", "arrivals", "payload", "start_s",
                       "duration_s", "measured", "connections", "seed"),
          ("function", "devices", "rate"))
    fleet = {"function": _string(doc, "function", field, choices=functions),
             "devices": _number(doc, "devices", field, positive=True, integer=True),
             "rate": _number(doc, "rate", field, positive=True),
             "arrivals": _string(doc, "arrivals", field, "poisson",
                                 ("constant", "poisson")),
             "payload": _string(doc, "payload", field, "digits"),
             "start_s": _number(doc, "start_s", field, 0, minimum=0),
             "connections": _number(doc, "connections", field, 32, positive=True,
                                    integer=True),
             "seed": _number(doc, "seed", field, i + 1, minimum=0, integer=True)}
    fleet["duration_s"] = _number(doc, "duration_s", field,
                                  duration_s - fleet["start_s"], positive=True)
    if fleet["start_s"] + fleet["duration_s"] > duration_s + 1e-9:
        _fail(field + ".duration_s", "the fleet runs past the scenario's duration_s (%s)"
              % duration_s)
    measured = doc.get("measured", True)
    if not isinstance(measured, bool):
        _fail(field + ".measured", "expected true or false, got %r" % (measured,))
    fleet["measured"] = measured
    if fleet["payload"] != "digits":
        fleet["payload"] = _path(fleet["payload"], field + ".payload")
    return fleet


def _cpu_action(doc, field, kind):
    if kind == "quota":
        _keys(doc, field, ("at_s", "quota", "cores"), ("at_s", "quota", "cores"))
        # (scaled by `calibrate`, if the scenario has one)
        return {"cores": _number(doc, "cores", field, positive=True)}
    _keys(doc, field, ("at_s", "load", "procs"), ("at_s", "load", "procs"))
    return {"procs": _number(doc, "procs", field, minimum=0, maximum=64, integer=True)}


def _action(doc, i, duration_s):
    """{at_s, kind: link|quota|load, target: edge|cloud, set: {...}} (link
    actions also keep "link": target)."""
    field = "actions[%d]" % i
    _mapping(doc, field)
    kinds = [k for k in ACTION_KINDS if k in doc]
    if len(kinds) != 1:
        _fail(field, "an action needs exactly one of %s, got %s"
              % (", ".join(ACTION_KINDS), ", ".join(kinds) or "none"))
    kind = kinds[0]
    action = {"at_s": _number(doc, "at_s", field, minimum=0, maximum=duration_s),
              "kind": kind, "target": _string(doc, kind, field, choices=TIERS)}
    if kind != "link":
        action["set"] = _cpu_action(doc, field, kind)
        return action
    _keys(doc, field, ("at_s", "link") + LINK_FIELDS, ("at_s", "link"))
    action["link"] = action["target"]
    changes = {}
    for key in LINK_FIELDS:
        if key in doc:
            changes[key] = _number(doc, key, field, minimum=0,
                                   maximum=1 if key == "loss" else None)
    if not changes:
        _fail(field, "a link action needs at least one of %s" % ", ".join(LINK_FIELDS))
    action["set"] = changes
    return action


def _phase(doc, i, duration_s):
    field = "phases[%d]" % i
    _mapping(doc, field)
    _keys(doc, field, ("name", "start_s", "end_s"), ("name", "start_s", "end_s"))
    phase = {"name": _string(doc, "name", field),
             "start_s": _number(doc, "start_s", field, minimum=0),
             "end_s": _number(doc, "end_s", field, maximum=duration_s)}
    if phase["end_s"] <= phase["start_s"]:
        _fail(field + ".end_s", "must be after start_s")
    return phase


def validate(doc):
    """Checks a parsed scenario; returns the normalised scenario dict."""
    _mapping(doc, "scenario")
    _keys(doc, "", ("name", "description", "testbed", "duration_s", "warmup", "functions",
                    "fleets", "actions", "phases", "policies", "model", "calibrate"),
          ("name", "testbed", "duration_s", "functions", "fleets"))
    s = {"name": _string(doc, "name", ""),
         "description": doc.get("description", ""),
         "testbed": _path(_string(doc, "testbed", ""), "testbed"),
         "duration_s": _number(doc, "duration_s", "", positive=True)}
    if not isinstance(s["description"], str):
        _fail("description", "expected a string")
    warmup = doc.get("warmup", True)
    if not isinstance(warmup, bool):
        _fail("warmup", "expected true or false, got %r" % (warmup,))
    s["warmup"] = warmup
    s["functions"] = [_function(f, i) for i, f in enumerate(_list(doc, "functions", ""))]
    names = [f["name"] for f in s["functions"]]
    if len(set(names)) != len(names):
        _fail("functions", "duplicate function names %r" % (names,))
    s["fleets"] = [_fleet(f, i, s["duration_s"], names)
                   for i, f in enumerate(_list(doc, "fleets", ""))]
    if not any(f["measured"] for f in s["fleets"]):
        _fail("fleets", "at least one fleet must be measured")
    s["actions"] = sorted((_action(a, i, s["duration_s"])
                           for i, a in enumerate(_list(doc, "actions", "", False))),
                          key=lambda a: a["at_s"])
    phases = _list(doc, "phases", "", False) or [
        {"name": "all", "start_s": 0, "end_s": s["duration_s"]}]
    s["phases"] = [_phase(p, i, s["duration_s"]) for i, p in enumerate(phases)]
    policies = doc.get("policies", list(POLICIES))
    if not isinstance(policies, list) or not policies or \
            any(p not in POLICIES for p in policies):
        _fail("policies", "expected a non-empty list of %s, got %r"
              % (", ".join(POLICIES), policies))
    s["policies"] = policies
    model = _mapping(doc.get("model", {}), "model")
    _keys(model, "model", ("request_bytes", "response_bytes", "edge_proc_ms",
                           "cloud_proc_ms"))
    s["model"] = {k: _number(model, k, "model", positive=True) for k in model}
    if "calibrate" in doc:
        s["calibrate"] = _calibrate(doc["calibrate"], s)
    return s


def _calibrate(doc, s):
    field = "calibrate"
    _mapping(doc, field)
    _keys(doc, field, ("function", "utilization", "requests"), ("function", "utilization"))
    cal = {"function": _string(doc, "function", field,
                               choices=[f["name"] for f in s["functions"]]),
           "utilization": _number(doc, "utilization", field, positive=True, maximum=1),
           "requests": _number(doc, "requests", field, 60, minimum=10, maximum=10000,
                               integer=True)}
    fn = next(f for f in s["functions"] if f["name"] == cal["function"])
    if "edge" not in fn["tiers"]:
        _fail(field + ".function", "%r does not run on the edge" % cal["function"])
    if not any(f["function"] == cal["function"] for f in s["fleets"]):
        _fail(field + ".function", "no fleet sends to %r" % cal["function"])
    return cal


def load(path):
    """Reads and validates a scenario file; ValueError names file and field."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise ValueError("%s: cannot read: %s" % (path, e.strerror)) from None
    except yaml.YAMLError as e:
        raise ValueError("%s: malformed YAML: %s" % (path, e)) from None
    try:
        return validate(doc)
    except ValueError as e:
        raise ValueError("%s: %s" % (path, e)) from None


def scaled(scenario, duration_s):
    """A copy of `scenario` whose times are shrunk to last `duration_s`."""
    factor = duration_s / scenario["duration_s"]
    s = copy.deepcopy(scenario)
    s["duration_s"] = duration_s
    for fleet in s["fleets"]:
        fleet["start_s"] *= factor
        fleet["duration_s"] *= factor
    for action in s["actions"]:
        action["at_s"] *= factor
    for phase in s["phases"]:
        phase["start_s"] *= factor
        phase["end_s"] *= factor
    return s
