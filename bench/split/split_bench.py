#!/usr/bin/python3
"""Split-inference benchmark (docs/split.md): latency of whole-edge,
whole-cloud, every cut and the planner's choice as the uplink changes.

    /usr/bin/python3 bench/split/make_split_cnn.py --out-dir build/release/split
    sudo /usr/bin/python3 bench/split/split_bench.py [--rates 100,10,2,10] [--n 15]

Starts the testbed of bench/split/split.yaml (deploy/testbed/testbed.py:
edge executor under a CPU quota, the cloud behind stoa-linkem), registers
build/release/split/split_cnn.onnx with "split": true, then for each rate:
sets the cloud link (PUT /link), lets the planner learn it (--warmup
unforced requests), and measures --n requests of each option, in rounds
(one of each option per round, so drift hits all alike): ?tier=edge,
?tier=cloud, ?split=<cut> for every cut, and unforced (the planner's
choice, counted per placement). Prints one table per rate (medians, ms,
as the client sees them) and a JSON summary to --json.
"""
import argparse
import collections
import json
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "deploy", "testbed"))
from testbed import Testbed  # noqa: E402


def post(url, body, headers=None):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return (time.perf_counter() - start) * 1000, dict(r.headers), r.status
    except urllib.error.HTTPError as e:
        return (time.perf_counter() - start) * 1000, dict(e.headers), e.code


def register(gw, model):
    with open(model, "rb") as f:
        artifact = f.read()
    boundary = "stoasplitbench"
    spec = json.dumps({"name": "cnn", "runtime": "onnx", "split": True,
                       "limits": {"timeout_ms": 60000}})
    body = (("--%s\r\nContent-Disposition: form-data; name=\"spec\"\r\n"
             "Content-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
             "Content-Disposition: form-data; name=\"artifact\"; filename=\"m.onnx\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n") % (boundary, spec, boundary)
            ).encode() + artifact + ("\r\n--%s--\r\n" % boundary).encode()
    req = urllib.request.Request(gw + "/v1/functions", data=body, method="POST", headers={
        "Content-Type": "multipart/form-data; boundary=" + boundary})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def placement(headers):
    split = headers.get("X-Stoa-Split", "")
    return "split@" + split if split else "whole_" + headers.get("X-Stoa-Tier", "?")


def measure_rate(gw, payload, cuts, n, warmup):
    url = gw + "/v1/functions/cnn/invoke"
    options = [("whole_edge", "?tier=edge"), ("whole_cloud", "?tier=cloud")]
    options += [("split@" + c, "?split=" + c) for c in cuts]
    for _ in range(warmup):
        post(url, payload)
    lat = collections.defaultdict(list)
    chosen = collections.Counter()
    for _ in range(n):
        for name, query in options:
            ms, headers, status = post(url + query, payload)
            if status == 200:
                lat[name].append(ms)
        ms, headers, status = post(url, payload)
        if status == 200:
            lat["planner"].append(ms)
            chosen[placement(headers)] += 1
    return {k: statistics.median(v) for k, v in lat.items()}, dict(chosen)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=os.path.join(HERE, "split.yaml"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build/release/split/split_cnn.onnx"))
    parser.add_argument("--payload", default=os.path.join(ROOT, "build/release/split/payload.json"))
    parser.add_argument("--rates", default="100,10,2,10")
    parser.add_argument("--n", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    with open(args.payload, "rb") as f:
        payload = f.read()
    results = []
    with Testbed.from_yaml(args.config) as tb:
        fn = register(tb.gateway_url, args.model)
        cuts = [c["tensor"] for c in fn["split_cuts"]]
        print("cuts:", ", ".join("%s (%d B, %.0f%% of FLOPs before)" % (
            c["tensor"], c["bytes"], 100 * c["prefix_cost"]) for c in fn["split_cuts"]))
        for rate in [float(r) for r in args.rates.split(",")]:
            tb.set_link("cloud", rate_mbit=rate)
            medians, chosen = measure_rate(tb.gateway_url, payload, cuts, args.n, args.warmup)
            results.append({"rate_mbit": rate, "median_ms": medians, "planner_chose": chosen})
            print("\n== uplink %g Mbit/s ==" % rate)
            for k in sorted(medians, key=medians.get):
                print("  %-22s %8.1f ms" % (k, medians[k]))
            print("  planner chose:", chosen)
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
