#!/usr/bin/env python3
"""Pipeline chains against stage-by-stage calls (docs/pipelines.md § Chains).

Starts one stoa-executor (the cloud), a stoa-linkem in front of it (one-way
delay --delay-ms, 0 for plain loopback), and two gateways on that link: one
with chains (the default) and one with --no-pipeline-chains (every stage its
own executor call, the behaviour before chains). Registers the example
pipeline (functions/examples/pipeline: digits-pixels wasm -> digits onnx ->
digits-post wasm) on both, then alternates rounds: N calls per gateway and
placement (?tier=edge, ?tier=cloud), recording X-Stoa-Latency-Ms and the
per-stage X-Stoa-Stage-Timings. Prints medians per gateway and placement,
and one example of the headers.

  bench/pipeline/chain_bench.py [--build build/release] [--delay-ms 5]
                                [--rounds 5] [--n 40]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()  # the bound address, first line
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()  # drain
    m = re.search(r"(127\.0\.0\.1:\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"no address from {cmd[0]}: {line!r}")
    return p, m.group(1)


def call(base, path, body=None, ctype=None, method=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def multipart(spec, artifact):
    b = "----stoa-bench"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{spec}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + artifact + f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def register(base, wasm_dir):
    for spec, path in [('{"name":"digits-pixels","runtime":"wasm"}', f"{wasm_dir}/digits_pixels.wasm"),
                       ('{"name":"digits","runtime":"onnx"}', f"{ROOT}/functions/examples/digits/digits.onnx"),
                       ('{"name":"digits-post","runtime":"wasm","content_type":"application/json"}',
                        f"{wasm_dir}/digits_post.wasm")]:
        body, ctype = multipart(spec, open(path, "rb").read())
        status, _, out = call(base, "/v1/functions", body, ctype)
        assert status == 201, out
    status, _, out = call(base, "/v1/functions",
                          open(f"{ROOT}/functions/examples/pipeline/ocr.json", "rb").read(),
                          "application/json")
    assert status == 201, out


def image():
    with open(f"{ROOT}/functions/examples/digits/test_split.csv") as f:
        for line in f:
            if line[:1].isdigit():
                return bytes(int(int(v) * 255 / 16 + 0.5) for v in line.split(",")[:64])


def stage_ms(header):
    return {m.group(1): float(m.group(3)) for m in
            re.finditer(r"([a-z0-9-]+)=([a-z0-9-]+):([0-9.]+)ms", header)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=f"{ROOT}/build/release")
    ap.add_argument("--delay-ms", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    bin_dir = f"{args.build}/bin"
    wasm_dir = f"{args.build}/functions/examples/wasm"
    procs = []
    try:
        ex, ex_addr = start([f"{bin_dir}/stoa-executor", "--listen", "127.0.0.1:0", "--threads", "2",
                             "--log-level", "warn"])
        procs.append(ex)
        cloud = ex_addr
        if args.delay_ms > 0:
            lk, cloud = start([f"{bin_dir}/stoa-linkem", "--listen", "127.0.0.1:0", "--upstream", ex_addr,
                               "--delay-ms", str(args.delay_ms), "--sched", "other", "--log-level", "warn"])
            procs.append(lk)
        gateways = {}
        for name, extra in [("chain", []), ("stage-by-stage", ["--no-pipeline-chains"])]:
            g, addr = start([f"{bin_dir}/stoa-gateway", "--listen", "127.0.0.1:0", "--data-dir",
                             tempfile.mkdtemp(prefix=f"chain-bench-{name}-"), "--cloud", cloud,
                             "--edge-threads", "2", "--log-level", "warn"] + extra)
            procs.append(g)
            gateways[name] = f"http://{addr}"
            register(gateways[name], wasm_dir)
        raw = image()
        results = {}  # (gateway, tier) -> {"total": [...], stage: [...]}
        examples = {}
        for _ in range(args.rounds):
            for tier in ("edge", "cloud"):
                for name, base in gateways.items():
                    rec = results.setdefault((name, tier), {"total": []})
                    for i in range(args.n + 3):
                        status, headers, out = call(base, f"/v1/functions/ocr/invoke?tier={tier}", raw,
                                                    "application/octet-stream")
                        assert status == 200, out
                        if i < 3:
                            continue  # warm-up of the round
                        rec["total"].append(float(headers["X-Stoa-Latency-Ms"]))
                        for stage, ms in stage_ms(headers["X-Stoa-Stage-Timings"]).items():
                            rec.setdefault(stage, []).append(ms)
                        examples[(name, tier)] = {k: v for k, v in headers.items() if k.startswith("X-Stoa")}
        load = open("/proc/loadavg").read().split()[:3]
        print(f"one-way delay {args.delay_ms} ms, {args.rounds} rounds x {args.n} calls, load {' '.join(load)}")
        print(f"{'gateway':16} {'tier':6} {'total p50':>10} {'pixels':>8} {'digits':>8} {'post':>8}  (medians, ms)")
        for (name, tier), rec in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            med = {k: statistics.median(v) for k, v in rec.items()}
            print(f"{name:16} {tier:6} {med['total']:10.3f} {med.get('digits-pixels', 0):8.3f} "
                  f"{med.get('digits', 0):8.3f} {med.get('digits-post', 0):8.3f}")
        for key, headers in sorted(examples.items()):
            print(f"example {key[0]} ?tier={key[1]}: {json.dumps(headers)}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
