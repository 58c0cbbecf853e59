"""Per-phase scoring of a stoa-bench pass: placement accuracy, regret and
time-to-adapt after each change of conditions, with the definitions of
stoa-sim's phase report (bench/sim/phase_report.h):

  accuracy       share of the phase's requests placed on the oracle's tier;
  regret         mean latency of the requests over the oracle's, in % of
                 the latter;
  time-to-adapt  from the phase's start to the first request from which at
                 most ADAPT_SLACK of the next ADAPT_WINDOW are wrong (placement
                 follows the new conditions), in seconds and in requests
                 (as in stoa-sim, the windows shorten at the phase's end,
                 so a phase that never adapts shows its last request);
                 None for an empty phase;
  adapt in target  issue 14's bound: adapted within 1 s or 20 requests of
                 the phase's start, whichever is later (so either suffices),
                 from a full window of ADAPT_WINDOW requests or from one whose
                 every request is right (not a phase's last few wrong ones);
                 the whole run is in target when every phase is.

Decision regret scores the same placements against the forced passes'
bucket means of both tiers: a request on the oracle's tier costs 0, one on
the other tier the difference of the two tiers' bucket means (the
pseudo-regret of bandit problems). The latency regret above also counts,
for correct requests, how this pass's run differed from the forced pass
minutes earlier (noise of the host, either sign); decision regret leaves
only what the placements cost, as stoa-sim's regret does.

Miss regret keeps decision regret's zero for a request on the oracle's
tier but prices a miss (and a backup's answer) at its own latency. A forced
pass's bucket mean includes the queue that sending every request to one
tier builds, which the chosen policy's occasional request there does not
meet: quota-flips QX1, slow-2: edge_only's bucket mean 190 ms, while three
edge requests of the predictive pass took 35, 60 and 86 ms; decision
regret charged each 152 ms over the cloud's 37. A miss's own latency is
what it cost (one request's noise, either sign).

Two oracles, both per request:
  - the bucket oracle of analysis.py (the faster forced pass per 5 s bucket,
    its bucket mean as the oracle's latency): every request is scored;
  - the scheduler's own shadow samples (the pass's trace.jsonl): a decision
    whose request also ran on every other tier (shadow run) is correct when
    its tier answered fastest, its regret the difference. Only sampled
    decisions are scored; the trace's clock is aligned with the loadgen's by
    the first traced decision and the first request.

A request answered by a late backup (reason "backup": the chosen tier had
not answered by its due time, policy late_hedge) is scored by the tier the
scheduler chose, the other one: it counts against accuracy. Its cost is
what the client waited, the due time plus the backup's run, not the chosen
tier's mean: both regrets price it at its own latency. A hedged request
(reason "hedge": both tiers ran it from the start and the first answer was
the request's, e.g. an evidence hedge on a tier just found much faster, a
choice hedged because it was saturated, or a hedge on a saturated tier
whose probe came back) is scored by the tier that answered. It ran on the
oracle's tier too, so decision regret charges it nothing (the pseudo-
regret of running on both tiers is at most the oracle's), and so does miss
regret: when the other tier answered first, the oracle tier's own run of
that same request was slower (or failed), so the request's measured regret
is at most 0, and its own latency against the oracle's bucket mean would
price a counterfactual its own run contradicts (tier-flips T23e, far-1: a
hedge the far cloud answered in 127.9 ms while the throttled edge's run of
it took 133.2 ms was charged 100 ms over the edge's 25 ms bucket mean).
History: until 2026-12-02 miss regret scored a hedge like any request, by
the tier that answered (its own latency when the other tier answered
first); reports print that figure alongside (hedges_charged). Earlier:
before the sixteenth session (2026-11-30) decision regret priced a hedge
at the answering tier's bucket mean (a saturated cloud's lucky 60 ms answer
was charged its forced pass's 320 ms); from then until the eighteenth
(2026-12-01) both regrets priced it at its own latency, which charged a
hedge the edge answered the noise of one run against the forced pass's
mean while the same answer without the hedge cost nothing: with
40-90 hedges a load-flips run (probes back inside saturated spells), that
moved decision regret by -7 to +3 points from run to run.

Pure functions except read_trace; no plotting.
"""

import json

import analysis

ADAPT_WINDOW = 20
ADAPT_SLACK = 1
ADAPT_TARGET_S = 1.0
ADAPT_TARGET_REQUESTS = 20
# Answers priced at their own latency in both regrets (see the docstring).
OWN_LATENCY_REASONS = ("backup",)
# Runs on both tiers: no decision regret (see the docstring).
BOTH_TIERS_REASONS = ("hedge",)


def decided_tier(row):
    """The tier the scheduler chose for a request: the answering tier, or
    for a late backup's answer the other one."""
    if row.get("reason") == "backup":
        return {"edge": "cloud", "cloud": "edge"}.get(row["tier"], row["tier"])
    return row["tier"]


def scored_by_oracle(rows, best, bucket_s):
    """[(t, correct, latency_ms, oracle_ms)] for the 2xx rows in a known bucket."""
    out = []
    for r in analysis.ok(rows):
        b = int(r["t"] // bucket_s)
        if b in best:
            tier, lat = best[b]
            out.append((r["t"], decided_tier(r) == tier, r["latency_ms"], lat))
    return out


def scored_by_decision(rows, edge_means, cloud_means, best, bucket_s):
    """[(t, correct, chosen tier's bucket mean, oracle's bucket mean)] for the
    2xx rows in a bucket both forced passes answered (see the docstring)."""
    out = []
    for r in analysis.ok(rows):
        b = int(r["t"] // bucket_s)
        means = {"edge": edge_means.get(b), "cloud": cloud_means.get(b)}
        decided = decided_tier(r)
        if b not in best or means.get(decided) is None:
            continue
        tier, lat = best[b]
        if r.get("reason") in BOTH_TIERS_REASONS:
            cost = lat
        elif r.get("reason") in OWN_LATENCY_REASONS:
            cost = r["latency_ms"]
        else:
            cost = means[decided]
        out.append((r["t"], decided == tier, cost, lat))
    return out


def scored_by_miss(rows, edge_means, cloud_means, best, bucket_s, hedges_charged=False):
    """As scored_by_decision, a miss priced at its own latency; a hedge costs
    nothing (it ran on the oracle's tier too, which did not answer first).
    hedges_charged: the definition before 2026-12-02, a hedge the other tier
    answered priced at its own latency (reports print it alongside)."""
    out = []
    for r in analysis.ok(rows):
        b = int(r["t"] // bucket_s)
        decided = decided_tier(r)
        if b not in best or {"edge": edge_means, "cloud": cloud_means}[decided].get(b) is None:
            continue
        tier, lat = best[b]
        right = decided == tier
        reason = r.get("reason")
        if reason in BOTH_TIERS_REASONS and not hedges_charged:
            cost = lat
        elif right and reason not in OWN_LATENCY_REASONS:
            cost = lat
        else:
            cost = r["latency_ms"]
        out.append((r["t"], right, cost, lat))
    return out


def read_trace(path):
    """{decision id: {"t_us", "tier", "runs": {tier: latency_ms}}} of the
    traced decisions with a successful run on their own tier."""
    decisions = {}
    runs = {}
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: the rest is whole
            if ev.get("ev") == "decision":
                decisions[ev["id"]] = {"t_us": ev["t_us"], "tier": ev["tier"]}
            elif ev.get("ev") == "outcome" and ev.get("id") and ev.get("ok"):
                runs.setdefault(ev["id"], {})[ev["tier"]] = ev["latency_ms"]
    out = {}
    for i, d in decisions.items():
        r = runs.get(i, {})
        if d["tier"] in r:
            out[i] = {"t_us": d["t_us"], "tier": d["tier"], "runs": r}
    return out


def _both_tier_decisions(trace, rows):
    """[(t, decision)] of the traced decisions whose request ran on more than
    one tier (shadow runs, hedges whose runs were both kept), t on the
    loadgen's clock (see above), in time order."""
    if not trace or not rows:
        return []
    t0_us = min(d["t_us"] for d in trace.values())
    t0 = min(r["t"] for r in rows)
    return [(t0 + (d["t_us"] - t0_us) / 1e6, d)
            for d in sorted(trace.values(), key=lambda d: d["t_us"]) if len(d["runs"]) >= 2]


def scored_by_shadow(trace, rows):
    """[(t, correct, chosen_ms, best_ms)] of the decisions whose request ran on
    more than one tier, t on the loadgen's clock (see above)."""
    out = []
    for t, d in _both_tier_decisions(trace, rows):
        chosen = d["runs"][d["tier"]]
        best = min(d["runs"].values())
        out.append((t, chosen <= best, chosen, best))
    return out


def scored_by_oracle_agreement(trace, rows, best, bucket_s):
    """[(t, agrees, oracle_tier_ms, fastest_ms)]: for each request that ran on
    the bucket oracle's tier and another (the decisions of scored_by_shadow),
    whether the oracle's tier answered it fastest. The share that agrees is
    what the bucket oracle's accuracy can reach for a policy that puts every
    request on the tier that is fastest for that request: where a tier
    queues in bursts (a throttled edge), some requests are faster on the
    tier that is slower on average, and a placement that follows them is
    counted wrong by the bucket oracle. The sample is the shadow runs
    (random) and the kept hedges (contested or quota-bound choices, so
    tilted towards close calls); read it with its n."""
    out = []
    for t, d in _both_tier_decisions(trace, rows):
        b = int(t // bucket_s)
        if b not in best or best[b][0] not in d["runs"]:
            continue
        oracle_ms = d["runs"][best[b][0]]
        fastest = min(d["runs"].values())
        out.append((t, oracle_ms <= fastest, oracle_ms, fastest))
    return out


def _score(run, start_s):
    s = {"requests": len(run), "accuracy": None, "regret_pct": None, "adapt_s": None,
         "adapt_requests": None, "adapt_in_target": None}
    if not run:
        return s
    s["accuracy"] = sum(1 for r in run if r[1]) / len(run)
    chosen = sum(r[2] for r in run)
    best = sum(r[3] for r in run)
    s["regret_pct"] = 100.0 * (chosen / best - 1.0) if best > 0 else 0.0
    for k in range(len(run)):
        wrong = sum(1 for r in run[k:k + ADAPT_WINDOW] if not r[1])
        if wrong <= ADAPT_SLACK:
            s["adapt_s"] = max(0.0, run[k][0] - start_s)
            s["adapt_requests"] = k
            settled = k + ADAPT_WINDOW <= len(run) or wrong == 0
            s["adapt_in_target"] = settled and (s["adapt_s"] <= ADAPT_TARGET_S
                                                or k <= ADAPT_TARGET_REQUESTS)
            break
    return s


def score_phases(scored, phases):
    """One dict per phase (name, start_s, end_s + _score's fields) and the
    whole run (time-to-adapt: the worst phase's, None if any never adapted)."""
    scored = sorted(scored)
    out = []
    for ph in phases:
        run = [r for r in scored if ph["start_s"] <= r[0] < ph["end_s"]]
        s = _score(run, ph["start_s"])
        s.update(name=ph["name"], start_s=ph["start_s"], end_s=ph["end_s"])
        out.append(s)
    total = _score(scored, 0.0)
    total.update(name="all", start_s=phases[0]["start_s"] if phases else 0.0,
                 end_s=phases[-1]["end_s"] if phases else 0.0)
    adapts = [p["adapt_s"] for p in out if p["requests"]]
    if adapts and all(a is not None for a in adapts):
        total["adapt_s"] = max(adapts)
        total["adapt_requests"] = max(p["adapt_requests"] for p in out if p["requests"])
        total["adapt_in_target"] = all(p["adapt_in_target"] for p in out if p["requests"])
    else:
        total["adapt_s"] = total["adapt_requests"] = total["adapt_in_target"] = None
    return out, total
