"""Writes the Markdown report and PNG plots of a stoa-bench run.

Input: the run directory written by stoa_bench.py (scenario.json plus one
sub-directory per policy with fleet-<i>.csv, pass.json, state.json).
Output in the same directory: report.md, latency_over_time.png,
latency_cdf.png. Works on partial runs (missing passes are skipped, an
interrupted pass is marked).
"""

import datetime
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import analysis  # noqa: E402
import model  # noqa: E402
import phases as phases_mod  # noqa: E402

BUCKET_S = 5.0
TIER_COLOURS = {"edge": "tab:blue", "cloud": "tab:orange"}


def _fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    text = ("%%.%df" % digits) % v
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def load_run(run_dir):
    with open(os.path.join(run_dir, "scenario.json"), encoding="utf-8") as f:
        scenario = json.load(f)
    passes = {}
    for policy in scenario["policies"]:
        d = os.path.join(run_dir, policy)
        if not os.path.isfile(os.path.join(d, "pass.json")):
            continue
        with open(os.path.join(d, "pass.json"), encoding="utf-8") as f:
            meta = json.load(f)
        rows = []
        for i, fleet in enumerate(scenario["fleets"]):
            path = os.path.join(d, "fleet-%d.csv" % i)
            if fleet["measured"] and os.path.isfile(path):
                rows += analysis.read_csv(path)
        rows.sort(key=lambda r: r["t"])
        passes[policy] = {"dir": d, "meta": meta, "rows": rows}
    return scenario, passes


def _save(fig, path):
    # Quantised to 64 colours: the plots are committed under docs/, keep them small.
    fig.canvas.draw()
    from PIL import Image
    img = Image.frombuffer("RGBA", fig.canvas.get_width_height(),
                           fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    img.convert("RGB").quantize(64).save(path, optimize=True)


def _plot_timeline(scenario, passes, path):
    policies = list(passes)
    fig, axes = plt.subplots(len(policies), 1, figsize=(8, 1.7 * len(policies) + 0.6), dpi=80,
                             sharex=True, sharey=True, squeeze=False)
    for ax, policy in zip(axes[:, 0], policies):
        rows = passes[policy]["rows"]
        for tier, colour in TIER_COLOURS.items():
            pts = [r for r in analysis.ok(rows) if r["tier"] == tier]
            ax.scatter([r["t"] for r in pts], [r["latency_ms"] for r in pts], s=3,
                       c=colour, label=tier, alpha=0.6, linewidths=0)
        bad = [r for r in rows if not 200 <= r["status"] < 300]
        if bad:
            ax.scatter([r["t"] for r in bad], [max(r["latency_ms"], 0.1) for r in bad],
                       s=6, c="tab:red", marker="x", label="error")
        for a in scenario["actions"]:
            ax.axvline(a["at_s"], color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(policy, fontsize=9, loc="left")
        ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=7, markerscale=4)
    axes[-1, 0].set_xlabel("scheduled send time (s); dashed: link actions")
    fig.suptitle("%s: end-to-end latency and chosen tier" % scenario["name"], fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _plot_cdf(scenario, curves, path):
    fig, ax = plt.subplots(figsize=(7, 4), dpi=80)
    for name, rows in curves.items():
        lat = sorted(r["latency_ms"] for r in analysis.ok(rows))
        if not lat:
            continue
        ys = [(i + 1) / len(lat) for i in range(len(lat))]
        ax.plot(lat, ys, label=name, lw=1.4 if name != "oracle" else 2.2,
                ls="-" if name != "oracle" else ":")
    ax.set_xscale("log")
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("%s: latency CDF per policy" % scenario["name"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _summary_table(scenario, passes, best, oracle_rows):
    lines = ["| policy | ok | errors | throughput (req/s) | p50 ms | p95 ms | p99 ms | "
             "mean ms | edge share | placement accuracy | regret vs oracle (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    measured_s = scenario["duration_s"]
    rows_by_name = [(p, passes[p]["rows"]) for p in passes]
    if oracle_rows is not None:
        rows_by_name.append(("oracle", oracle_rows))
    for name, rows in rows_by_name:
        s = analysis.summarize(rows, measured_s)
        edge = s["tiers"].get("edge", 0)
        share = edge / s["ok"] if s["ok"] else None
        acc, regret = (None, None)
        if best and name != "oracle":
            acc, regret = analysis.accuracy_and_regret(rows, best, BUCKET_S)
        if name == "oracle":
            acc, regret = 1.0, 0.0
        mark = " (interrupted)" if name in passes and passes[name]["meta"].get(
            "interrupted") else ""
        lines.append("| %s%s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, mark, s["ok"], s["errors"], _fmt(s["throughput"]), _fmt(s["p50_ms"]),
            _fmt(s["p95_ms"]), _fmt(s["p99_ms"]), _fmt(s["mean_ms"]),
            _fmt(share * 100 if share is not None else None, 0) + ("%" if share is not None
                                                                 else ""),
            _fmt(acc * 100 if acc is not None else None, 0) + ("%" if acc is not None
                                                             else ""),
            _fmt(regret)))
    return lines


def shadow_accuracy(pass_dir):
    """The scheduler's own accuracy from shadow execution (state.json):
    (ratio, comparisons, regret_ms) summed over functions, or None when
    it made no comparison (shadow_rate 0, or a gateway without it)."""
    try:
        with open(os.path.join(pass_dir, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    n = correct = 0
    regret = 0.0
    for fn in state.get("functions", {}).values():
        acc = fn.get("accuracy") or {}
        n += int(acc.get("comparisons") or 0)
        correct += int(acc.get("correct") or 0)
        regret += float(acc.get("regret_ms") or 0.0)
    if n == 0:
        return None
    return correct / n, n, regret


def _shadow_lines(passes):
    lines = []
    for p in passes:
        acc = shadow_accuracy(passes[p]["dir"])
        if acc is not None:
            lines.append("- %s (shadow_rate %g): the scheduler's own placement accuracy by "
                         "shadow execution %.0f%% over %d comparisons, mean regret %.1f ms."
                         % (p, passes[p]["meta"].get("shadow_rate", 0), acc[0] * 100, acc[1],
                            acc[2] / acc[1]))
    return lines


def _phase_table(scenario, passes):
    lines = ["| phase | " + " | ".join("%s mean / p95 ms" % p for p in passes) + " |",
             "|---|" + "---|" * len(passes)]
    for ph in scenario["phases"]:
        cells = []
        for p in passes:
            s = analysis.summarize(analysis.in_phase(passes[p]["rows"], ph), 1)
            cells.append("%s / %s" % (_fmt(s["mean_ms"]), _fmt(s["p95_ms"])))
        lines.append("| %s [%g–%g s) | %s |" % (ph["name"], ph["start_s"], ph["end_s"],
                                              " | ".join(cells)))
    return lines


def _pct(v, digits=1, sign=False):
    if v is None:
        return "–"
    return ("%+.*f %%" if sign else "%.*f %%") % (digits, v)


def _accuracy(s):
    """A phase score's accuracy (phases._score: a share, or None) in %."""
    return _pct(s["accuracy"] * 100 if s["accuracy"] is not None else None)


def _adapt(s):
    if s["adapt_s"] is None:
        return "never" if s["requests"] else "–"
    return "%.2f s / %d req%s" % (s["adapt_s"], s["adapt_requests"],
                                  "" if s["adapt_in_target"] else " (over)")


def _flip_lines(scenario, passes, best):
    """Per phase, for each policy that chooses: accuracy, regret and
    time-to-adapt against the bucket oracle, and against the scheduler's
    own shadow samples (trace.jsonl) where there are any."""
    if not best:
        return []
    lines = ["Per phase against the oracle (definitions as stoa-sim --phases: time-to-adapt is "
             "from the phase's start to the first request from which at most %d of the next %d are"
             " wrong; \"(over)\" marks a phase past issue 14's 1 s or 20 requests, whichever is "
             "later, and in the all row any such phase). The forced passes' means show how far "
             "apart the tiers were. Regret is this pass's latency over the oracle's bucket mean; "
             "decision regret prices each request by the forced passes' bucket means of its tier "
             "and of the oracle's (0 when on the oracle's tier), so it leaves out how this pass's "
             "host differed from the forced passes' minutes apart; miss regret prices a miss at "
             "its own latency instead (a forced pass's mean includes the queue of sending it every"
             " request), and a hedge at nothing, as decision regret (it ran on the oracle's tier"
             " too, which did not answer first; bench/stoa_bench/phases.py). Oracle's tier "
             "fastest: of the requests that ran on both tiers (shadow runs, kept hedges; a "
             "sample tilted towards close calls),"
             " the share the oracle's tier answered first: where it is under 100 %%, a placement "
             "that puts each request on the tier fastest for it scores that much under 100 %% "
             "accuracy here (e.g. a throttled edge that queues in bursts)."
             % (phases_mod.ADAPT_SLACK, phases_mod.ADAPT_WINDOW), "",
             "| policy | phase | oracle tier | edge_only / cloud_only mean ms | requests | "
             "accuracy | regret | decision regret | miss regret | time-to-adapt | "
             "shadow-sampled accuracy (n) | shadow regret | oracle's tier fastest (n) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    forced = {p: passes[p]["rows"] for p in ("edge_only", "cloud_only") if p in passes}
    charged = []  # miss regret as defined before 2026-12-02, per policy
    for policy in passes:
        if policy in ("edge_only", "cloud_only"):
            continue
        rows = passes[policy]["rows"]
        by_oracle, total = phases_mod.score_phases(
            phases_mod.scored_by_oracle(rows, best, BUCKET_S), scenario["phases"])
        edge_means, cloud_means = [analysis.bucket_means(forced.get(p, []), BUCKET_S)
                                   for p in ("edge_only", "cloud_only")]
        by_decision, decision_total = phases_mod.score_phases(
            phases_mod.scored_by_decision(rows, edge_means, cloud_means, best, BUCKET_S),
            scenario["phases"])
        by_miss, miss_total = phases_mod.score_phases(
            phases_mod.scored_by_miss(rows, edge_means, cloud_means, best, BUCKET_S),
            scenario["phases"])
        by_charged, charged_total = phases_mod.score_phases(
            phases_mod.scored_by_miss(rows, edge_means, cloud_means, best, BUCKET_S,
                                      hedges_charged=True), scenario["phases"])
        charged.append("%s: all %s (%s)" % (
            policy, _pct(charged_total["regret_pct"], sign=True),
            ", ".join("%s %s" % (c["name"], _pct(c["regret_pct"], sign=True))
                      for c in by_charged)))
        trace_path = os.path.join(passes[policy]["dir"], "trace.jsonl")
        shadow, agreement = [], []
        if os.path.isfile(trace_path):
            trace = phases_mod.read_trace(trace_path)
            shadow = phases_mod.scored_by_shadow(trace, rows)
            agreement = phases_mod.scored_by_oracle_agreement(trace, rows, best, BUCKET_S)
        by_shadow, shadow_total = phases_mod.score_phases(shadow, scenario["phases"])
        by_agree, agree_total = phases_mod.score_phases(agreement, scenario["phases"])
        for ph, s, d, m, sh, ag in zip(scenario["phases"] + [None], by_oracle + [total],
                                       by_decision + [decision_total], by_miss + [miss_total],
                                       by_shadow + [shadow_total], by_agree + [agree_total]):
            span = ph or {"start_s": 0, "end_s": scenario["duration_s"]}
            tiers = {}
            for r in analysis.ok(rows):
                b = int(r["t"] // BUCKET_S)
                if span["start_s"] <= r["t"] < span["end_s"] and b in best:
                    tiers[best[b][0]] = tiers.get(best[b][0], 0) + 1
            means = [analysis.summarize(analysis.in_phase(forced[p], span), 1)["mean_ms"]
                     if p in forced else None for p in ("edge_only", "cloud_only")]
            lines.append("|" + " %s |" * 13 % (
                policy, s["name"], "/".join(sorted(tiers)) or "–",
                "%s / %s" % (_fmt(means[0]), _fmt(means[1])), s["requests"],
                _accuracy(s),
                _pct(s["regret_pct"], sign=True), _pct(d["regret_pct"], sign=True),
                _pct(m["regret_pct"], sign=True), _adapt(s),
                "%s (%d)" % (_accuracy(sh), sh["requests"]),
                _pct(sh["regret_pct"], sign=True),
                "%s (%d)" % (_accuracy(ag), ag["requests"])))
    if charged:
        lines += ["", "Miss regret with a hedge the other tier answered first priced at its "
                  "own latency (the definition before 2026-12-02): " + "; ".join(charged) + "."]
    return lines


def _run_time(passes):
    """When the run's first pass started (pass.json's started_utc); a run
    recorded before that field says when this report was built instead."""
    started = sorted(p["meta"]["started_utc"] for p in passes.values()
                     if p["meta"].get("started_utc"))
    if started:
        return "%s UTC (first pass's start)" % started[0][:16]
    return "start not recorded; report built %s UTC" % (
        datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))


def _model_table(scenario, passes, stoa_binary):
    proc = model.proc_times(scenario, passes)
    lines = ["Processing time per request fed to the model: edge %s ms (%s), cloud %s ms "
             "(%s)." % (_fmt(proc["edge"][0], 3), proc["edge"][1],
                        _fmt(proc["cloud"][0], 3), proc["cloud"][1]), "",
             "| phase | λ (req/s) | placement | link RTT ms / Mbit/s | load (bottleneck) | "
             "model first-order ms | model M/M/c mean ms | measured mean ms | "
             "measured p50 ms |", "|---|---|---|---|---|---|---|---|---|"]
    any_meta = next(iter(passes.values()))["meta"]
    for ph in scenario["phases"]:
        for tier, policy in (("edge", "edge_only"), ("cloud", "cloud_only")):
            meta = passes[policy]["meta"] if policy in passes else any_meta
            flags = model.inputs(scenario, meta, ph, {t: v[0] for t, v in proc.items()})
            try:
                out = model.predict(stoa_binary, flags)
            except Exception as e:  # noqa: BLE001 - report, do not crash the report
                lines.append("| %s | – | %s | – | model failed: %s | | | | |"
                             % (ph["name"], tier, str(e)[:80]))
                continue
            pl = next(p for p in out["placements"] if p["placement"] == tier)
            load = max(pl["loads"].values())
            measured = {"mean_ms": None, "p50_ms": None}
            if policy in passes:
                measured = analysis.summarize(
                    analysis.in_phase(passes[policy]["rows"], ph), 1)
            lines.append("| %s | %.1f | %s | %.0f / %g | %.2f (%s) | %s | %s | %s | %s |" % (
                ph["name"], flags["rate"], tier, flags["%s-rtt-ms" % tier],
                flags["%s-rate-mbit" % tier], load, pl["bottleneck"],
                _fmt(pl["first_order_ms"]), _fmt(pl["mean_latency_ms"]),
                _fmt(measured["mean_ms"]), _fmt(measured["p50_ms"])))
    return lines


def calibration_line(cal):
    """One sentence on a run's calibration (runner.calibrate / calibrated)."""
    if cal.get("skipped"):
        return "skipped (%s); quotas as written" % cal["skipped"]
    rounds = cal.get("rounds_cpu_ms")
    measured = ("%d requests, its quota lifted" % cal["requests"] if not rounds else
                "the highest of %d rounds of %d requests, its quota lifted: %s ms" % (
                    len(rounds), cal["requests"], ", ".join("%.2f" % r for r in rounds)))
    cloud = cal["quotas"]["cloud"]
    return ("a request of %s cost the edge executor %.2f ms of CPU (%s); at %g req/s that "
            "is %.0f %% of the written edge quota (%g cores), so both tiers' quotas were "
            "multiplied by %g to keep it at most %.0f %% (edge %s cores, cloud %s)" % (
                cal["function"], cal["cpu_ms"], measured, cal["rate"],
                100.0 * cal["rate"] * cal["cpu_ms"] / 1000.0 / cal["edge_quota_cores"],
                cal["edge_quota_cores"], cal["scale"], 100.0 * cal["utilization"],
                cal["quotas"]["edge"], "unlimited" if cloud is None else "%g cores" % cloud))


def write(run_dir, stoa_binary, quick=False):
    """Writes report.md and the plots; returns the report's path."""
    scenario, passes = load_run(run_dir)
    if not passes:
        raise RuntimeError("%s: no finished pass to report on" % run_dir)
    best = oracle_rows = None
    if "edge_only" in passes and "cloud_only" in passes:
        e, c = passes["edge_only"]["rows"], passes["cloud_only"]["rows"]
        best = analysis.oracle(e, c, BUCKET_S)
        oracle_rows = analysis.oracle_rows(e, c, BUCKET_S)
    _plot_timeline(scenario, passes, os.path.join(run_dir, "latency_over_time.png"))
    curves = {p: passes[p]["rows"] for p in passes}
    if oracle_rows is not None:
        curves["oracle"] = oracle_rows
    _plot_cdf(scenario, curves, os.path.join(run_dir, "latency_cdf.png"))

    meta = next(iter(passes.values()))["meta"]
    tb = meta["testbed"]
    out = ["# stoa-bench: %s%s" % (scenario["name"], " (quick)" if quick else ""), "",
           scenario.get("description", "").strip(), "",
           "- run: %s, %g s per policy, testbed `%s` (edge quota %g cores, %s; "
           "cloud %d threads%s)" % (
               _run_time(passes), scenario["duration_s"],
               tb["name"], tb["edge"]["quota_cores"], meta.get("edge_cpu_mode", "?"),
               tb["cloud"]["threads"],
               ", quota %g cores" % tb["cloud"]["quota_cores"]
               if tb["cloud"].get("quota_cores") is not None else ""),
           "- fleets: " + "; ".join(
               "%s %d devices x %g req/s %s from %g s for %g s%s" % (
                   f["function"], f["devices"], f["rate"], f["arrivals"], f["start_s"],
                   f["duration_s"], "" if f["measured"] else " (background, not measured)")
               for f in scenario["fleets"]),
           "- actions: " + ("; ".join("t=%g s %s %s %s" % (
                a["at_s"], a.get("target", a.get("link")), a.get("kind", "link"),
                json.dumps(a["set"]))
                                      for a in scenario["actions"]) or "none"),
           ]
    if meta.get("calibration"):
        out.append("- calibrated to this host: " + calibration_line(meta["calibration"]))
    lifted = ["%s (%s on %s, quota %g cores)" % (p, w["function"], w["tier"], w["quota_cores"])
              for p in passes for w in passes[p]["meta"].get("warmup_quota_lifted", [])]
    if lifted:
        out.append("- warm-up with the quota lifted (the throttled first request missed its "
                   "deadline; the quota was back before the pass began): " + "; ".join(lifted))
    out += ["", "## Results per policy", ""]
    out += _summary_table(scenario, passes, best, oracle_rows)
    out += ["", "Latency is end to end at the device, from the request's scheduled send "
            "time (open loop). Throughput counts 2xx answers over the pass. The oracle is "
            "derived from the forced-tier passes (edge_only, cloud_only): per %g s bucket, "
            "the tier with the lower mean latency; accuracy is the share of a policy's "
            "requests placed on that tier, regret its mean extra latency over the oracle's "
            "(a per-request check by the scheduler's shadow execution is listed below when the "
            "run used --shadow-rate)." % BUCKET_S, "",
            ] + _shadow_lines(passes) + ["",
            "![latency over time](latency_over_time.png)", "",
            "![latency CDF](latency_cdf.png)", "", "## Per phase", ""]
    out += _phase_table(scenario, passes)
    flips = _flip_lines(scenario, passes, best)
    if flips:
        out += ["", "## Accuracy, regret and time-to-adapt per phase", ""] + flips
    out += ["", "## Analytical model vs measured", ""]
    out += _model_table(scenario, passes, stoa_binary)
    out += ["", "Measured values are from the forced pass of the placement "
            "(edge_only for edge, cloud_only for cloud) in the same phase.", ""]
    path = os.path.join(run_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return path
