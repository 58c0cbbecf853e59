#!/usr/bin/python3
"""stoa-bench: runs a scenario once per placement policy and reports.

    stoa-bench run SCENARIO.yaml [--quick] [--out DIR] [--policies p,q]
                   [--bin-dir DIR] [--loadgen PATH] [--stoa PATH] [--shadow-rate R]
                   [--policy-params JSON] [--no-calibrate]
    stoa-bench check SCENARIO.yaml      # validate only
    stoa-bench report RUN_DIR            # rebuild report.md and plots

`run` validates the scenario and finds every binary before starting
anything, then for each policy starts a fresh testbed, runs the fleets and
actions, and stops it; finally writes RUN_DIR/report.md with
latency_over_time.png and latency_cdf.png. RUN_DIR defaults to
bench-results/<scenario>-<UTC time>. A scenario with `calibrate` first has
its testbed's CPU quotas scaled to this host (bench/stoa_bench/scenario.py;
RUN_DIR/calibration.json, and the report says so); --no-calibrate runs the
testbed as written. --quick shrinks every time in the
scenario to 12 s per pass (the CI smoke test). Ctrl-C (or SIGTERM) stops
every process started, keeps the CSVs written so far and reports on them.

Binaries: --bin-dir (default $STOA_BIN_DIR, else build/release/bin) holds
stoa-gateway, stoa-executor and stoa-linkem; stoa-loadgen and stoa are
taken from --loadgen/--stoa or the same directory.
Exit codes: 0 done, 1 a run failed, 2 bad scenario or missing binary,
130 interrupted.
"""

import argparse
import datetime
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import report  # noqa: E402
import runner  # noqa: E402
import scenario as scenario_mod  # noqa: E402

QUICK_DURATION_S = 12.0


def _say(msg):
    sys.stderr.write("stoa-bench: %s\n" % msg)
    sys.stderr.flush()


def _binaries(args):
    bin_dir = args.bin_dir or os.environ.get("STOA_BIN_DIR") or "build/release/bin"
    if not os.path.isabs(bin_dir):
        bin_dir = os.path.join(scenario_mod.REPO_ROOT, bin_dir)
    found = {"bin_dir": bin_dir,
             "loadgen": args.loadgen or os.path.join(bin_dir, "stoa-loadgen"),
             "stoa": args.stoa or os.path.join(bin_dir, "stoa")}
    needed = [os.path.join(bin_dir, b) for b in ("stoa-gateway", "stoa-executor",
                                                 "stoa-linkem")]
    needed += [found["loadgen"], found["stoa"]]
    missing = [p for p in needed if not os.access(p, os.X_OK)]
    if missing:
        raise FileNotFoundError("missing binaries (build them first): %s"
                                % ", ".join(missing))
    return found


def cmd_run(args):
    try:
        sc = scenario_mod.load(args.scenario)
        if args.policies:
            chosen = args.policies.split(",")
            bad = [p for p in chosen if p not in scenario_mod.POLICIES]
            if bad:
                raise ValueError("--policies: unknown %s" % ", ".join(bad))
            sc["policies"] = chosen
        runner.testbed_mod.load_yaml(sc["testbed"])  # the testbed file, too
        bins = _binaries(args)
    except (ValueError, FileNotFoundError) as e:
        _say(str(e))
        return 2
    if not 0.0 <= args.shadow_rate <= 1.0:
        _say("--shadow-rate: must be in [0, 1], got %g" % args.shadow_rate)
        return 2
    try:
        params = json.loads(args.policy_params) if args.policy_params else {}
        if not isinstance(params, dict) or "policy" in params:
            raise ValueError("an object of policy fields other than 'policy'")
    except ValueError as e:
        _say("--policy-params: must be a JSON object of policy fields (%s)" % e)
        return 2
    if args.quick:
        sc = scenario_mod.scaled(sc, QUICK_DURATION_S)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    run_dir = args.out or os.path.join("bench-results", "%s-%s" % (sc["name"], stamp))
    os.makedirs(run_dir, exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    if sc.get("calibrate") and not args.no_calibrate:
        try:
            cal = runner.calibrate(sc, bins["bin_dir"])
        except (RuntimeError, OSError, ValueError) as e:
            _say("calibration failed: %s" % e)
            return 1
        except KeyboardInterrupt:  # its testbed is stopped by then
            _say("interrupted during the calibration; nothing was run")
            return 130
        sc = runner.calibrated(sc, cal)
        with open(os.path.join(run_dir, "calibration.json"), "w", encoding="utf-8") as f:
            json.dump(sc["calibration"], f, indent=1)
        _say("calibrated: %s" % report.calibration_line(sc["calibration"]))
    with open(os.path.join(run_dir, "scenario.json"), "w", encoding="utf-8") as f:
        json.dump(sc, f, indent=1)
    code = 0
    try:
        for policy in sc["policies"]:
            _say("scenario %s, policy %s (%g s)" % (sc["name"], policy, sc["duration_s"]))
            try:
                runner.run_pass(sc, policy, bins["bin_dir"], bins["loadgen"],
                                os.path.join(run_dir, policy),
                                args.shadow_rate if policy == "predictive" else 0.0,
                                params if policy == "predictive" else None)
            except (RuntimeError, OSError, ValueError) as e:
                _say("policy %s failed: %s" % (policy, e))
                code = 1
    except KeyboardInterrupt:
        _say("interrupted: every process stopped; reporting on partial results")
        code = 130
    try:
        path = report.write(run_dir, bins["stoa"], quick=args.quick)
        _say("report: %s" % path)
        print(path)
    except (RuntimeError, OSError, ValueError) as e:
        _say("no report: %s" % e)
        return code or 1
    if code == 0:
        # A pass whose measured fleets got no 2xx answer is a failed run,
        # however well the processes started and stopped.
        _, passes = report.load_run(run_dir)
        empty = [p for p in sc["policies"] if p not in passes or
                 not report.analysis.ok(passes[p]["rows"])]
        if empty:
            _say("no successful request in: %s" % ", ".join(empty))
            code = 1
    return code


def cmd_check(args):
    try:
        sc = scenario_mod.load(args.scenario)
        runner.testbed_mod.load_yaml(sc["testbed"])
    except ValueError as e:
        _say(str(e))
        return 2
    print("scenario %s: %s is valid (%d policies, %g s each)"
          % (sc["name"], args.scenario, len(sc["policies"]), sc["duration_s"]))
    return 0


def cmd_report(args):
    stoa = args.stoa or os.path.join(
        args.bin_dir or os.environ.get("STOA_BIN_DIR") or
        os.path.join(scenario_mod.REPO_ROOT, "build/release/bin"), "stoa")
    print(report.write(args.run_dir, stoa))
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="stoa-bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario once per policy")
    r.add_argument("scenario")
    r.add_argument("--quick", action="store_true", help="12 s per pass (CI smoke test)")
    r.add_argument("--out", help="run directory")
    r.add_argument("--policies", help="comma-separated subset of the scenario's policies")
    r.add_argument("--policy-params", default="",
                   help='more fields of the predictive pass\'s policy document, as JSON, '
                        'e.g. \'{"late_hedge": false}\' (docs/scheduler.md)')
    r.add_argument("--no-calibrate", action="store_true",
                   help="run the testbed's CPU quotas as written, even if the scenario "
                        "says calibrate")
    r.add_argument("--shadow-rate", type=float, default=0.0,
                   help="shadow_rate of the predictive pass (0-1): the scheduler then "
                        "measures its own placement accuracy by shadow execution")
    for q in (r, sub.add_parser("report", help="rebuild the report of a run")):
        q.add_argument("--bin-dir")
        q.add_argument("--stoa")
    r.add_argument("--loadgen")
    sub.choices["report"].add_argument("run_dir")
    c = sub.add_parser("check", help="validate a scenario file")
    c.add_argument("scenario")
    args = p.parse_args(argv[1:])
    return {"run": cmd_run, "check": cmd_check, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
