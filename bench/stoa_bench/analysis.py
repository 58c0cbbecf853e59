"""Pure analysis of stoa-loadgen CSVs: percentiles, the oracle, placement
accuracy and regret. No I/O except read_csv; no plotting.

The oracle. Shadow execution (running a sampled request on both tiers) is
not in the scheduler yet, so the oracle is derived from the two forced-tier
passes of the same scenario: the timeline is cut into buckets (default
5 s); in each bucket the oracle tier is the one whose forced pass
(edge_only or cloud_only) had the lower mean latency there, and the oracle
latency of a request in that bucket is that pass's mean. A policy's
placement accuracy is the share of its successful requests sent to the
bucket's oracle tier; its regret is the mean of (its latency - the oracle
latency) over those requests. The forced passes load one tier with the
whole fleet, so this is the best *single tier per bucket*, not a
per-request shadow comparison.
"""

import csv
import math

FIELDS = ("device", "seq", "scheduled_s", "sent_s", "latency_ms", "status", "tier",
          "predicted_ms", "reason", "server_latency_ms", "cold_start", "error")


def read_csv(path):
    """Rows of a stoa-loadgen CSV as dicts with typed values."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise ValueError("%s: not a stoa-loadgen CSV (header %r)"
                             % (path, reader.fieldnames))
        for r in reader:
            rows.append({"device": int(r["device"]), "seq": int(r["seq"]),
                         "t": float(r["scheduled_s"]), "latency_ms": float(r["latency_ms"]),
                         "status": int(r["status"]), "tier": r["tier"],
                         "predicted_ms": float(r["predicted_ms"]), "reason": r["reason"],
                         "server_latency_ms": float(r["server_latency_ms"]),
                         "cold_start": r["cold_start"] == "1"})
    return rows


def ok(rows):
    return [r for r in rows if 200 <= r["status"] < 300]


def percentile(sorted_values, q):
    """Nearest-rank percentile, as stoa-loadgen computes it; None if empty."""
    if not sorted_values:
        return None
    rank = int(math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(rows, duration_s):
    """p50/p95/p99/mean over 2xx, throughput (2xx/s), error count, tier shares."""
    good = ok(rows)
    lat = sorted(r["latency_ms"] for r in good)
    tiers = {}
    for r in good:
        tiers[r["tier"]] = tiers.get(r["tier"], 0) + 1
    return {"requests": len(rows), "ok": len(good), "errors": len(rows) - len(good),
            "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99),
            "mean_ms": sum(lat) / len(lat) if lat else None,
            "throughput": len(good) / duration_s if duration_s > 0 else 0.0,
            "tiers": tiers}


def bucket_means(rows, bucket_s):
    """{bucket index: mean latency of 2xx rows scheduled in it}."""
    sums = {}
    for r in ok(rows):
        b = int(r["t"] // bucket_s)
        s = sums.setdefault(b, [0.0, 0])
        s[0] += r["latency_ms"]
        s[1] += 1
    return {b: s[0] / s[1] for b, s in sums.items()}


def oracle(edge_rows, cloud_rows, bucket_s):
    """{bucket: (tier, mean latency)} from the forced-tier passes. A bucket
    where only one tier answered goes to that tier."""
    edge = bucket_means(edge_rows, bucket_s)
    cloud = bucket_means(cloud_rows, bucket_s)
    out = {}
    for b in set(edge) | set(cloud):
        e, c = edge.get(b), cloud.get(b)
        if c is None or (e is not None and e <= c):
            out[b] = ("edge", e)
        else:
            out[b] = ("cloud", c)
    return out


def oracle_rows(edge_rows, cloud_rows, bucket_s):
    """The oracle's latency distribution: in each bucket, the rows of the
    forced pass the oracle picks."""
    best = oracle(edge_rows, cloud_rows, bucket_s)
    out = []
    for tier, rows in (("edge", edge_rows), ("cloud", cloud_rows)):
        for r in rows:
            b = int(r["t"] // bucket_s)
            if b in best and best[b][0] == tier:
                out.append(r)
    return out


def accuracy_and_regret(rows, best, bucket_s):
    """(share of 2xx rows on the bucket's oracle tier, mean regret ms); Nones
    when no row falls in a bucket the oracle knows."""
    hits = n = 0
    regret = 0.0
    for r in ok(rows):
        b = int(r["t"] // bucket_s)
        if b not in best:
            continue
        tier, lat = best[b]
        n += 1
        hits += r["tier"] == tier
        regret += r["latency_ms"] - lat
    if n == 0:
        return None, None
    return hits / n, regret / n


def in_phase(rows, phase):
    return [r for r in rows if phase["start_s"] <= r["t"] < phase["end_s"]]
