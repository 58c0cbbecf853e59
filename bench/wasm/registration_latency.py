#!/usr/bin/env python3
"""Registration and steady-state invocation latency of Wasm functions through
the real stoa-gateway + stoa-executor (docs/performance.md, Wasm section).

Starts an executor (the cloud tier) and a gateway (in-process edge tier) on
loopback with a fresh, private AOT cache, then for each example module:
  - registers it N times under new names, each time with a fresh custom
    section appended (a different sha256, so nothing comes from the cache):
    time from POST /v1/functions to its 201;
  - invokes the last one on ?tier=edge right away and then until its
    latency settles (the tiered runtime swaps interpreter -> AOT code);
  - reports p50 of steady-state invocations (keep-alive connection).

Usage: registration_latency.py BIN_DIR EXAMPLES_DIR [--repeat N] [--engine auto]
Standard library only (runs under /usr/bin/python3 or any python3).
"""
import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def with_nonce(wasm, nonce):
    name = b"stoa-bench-nonce"
    payload = leb(len(name)) + name + nonce.encode()
    return wasm + b"\x00" + leb(len(payload)) + payload


def multipart(spec, artifact):
    boundary = "stoa-bench-boundary-7d3f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"spec\"\r\n"
            f"Content-Type: application/json\r\n\r\n{spec}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"artifact\"; "
            f"filename=\"m.wasm\"\r\nContent-Type: application/wasm\r\n\r\n").encode()
    body += artifact + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_http(port, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gateway on {port} did not come up")


def wait_port(port, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"executor on {port} did not come up")


INPUTS = {
    "anomaly": b'{"sensor":"t-7","values":[20,20.1,19.9,20.2,35,20,19.8,20.1,20.0,19.7]}',
    "digits_pre": bytes((i * 37) % 256 for i in range(64)),
}


def invoke_ms(conn, name, body):
    t0 = time.perf_counter()
    conn.request("POST", f"/v1/functions/{name}/invoke?tier=edge", body=body)
    r = conn.getresponse()
    data = r.read()
    ms = (time.perf_counter() - t0) * 1000
    if r.status != 200:
        raise SystemExit(f"invoke {name}: {r.status} {data[:200]!r}")
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("examples_dir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--engine", default="auto")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="stoa-reg-bench-")
    os.chmod(work, 0o700)
    eport, gport = free_port(), free_port()
    common = ["--wasm-engine", args.engine, "--wasm-cache-dir", f"{work}/aot"]
    log = open(f"{work}/log.txt", "w")
    executor = subprocess.Popen(
        [f"{args.bin_dir}/stoa-executor", "--listen", f"127.0.0.1:{eport}"] + common,
        stdout=log, stderr=log)
    gateway = None
    try:
        wait_port(eport)
        gateway = subprocess.Popen(
            [f"{args.bin_dir}/stoa-gateway", "--listen", f"127.0.0.1:{gport}", "--data-dir",
             f"{work}/data", "--cloud", f"127.0.0.1:{eport}", "--edge-threads", "2"] + common,
            stdout=log, stderr=log)
        wait_http(gport)
        run(args, gport, work, [gateway.pid, executor.pid])
    finally:
        for p in (gateway, executor):
            if p is not None:
                p.terminate()
                p.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


def compiling(pid):
    """True while a thread of `pid` has a child process (wasm2c or cc)."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                if f.read().strip():
                    return True
    except OSError:
        return False
    return False


def run(args, gport, work, pids):
    conn = http.client.HTTPConnection("127.0.0.1", gport, timeout=120)
    print(f"engine {args.engine}; times in ms; {args.repeat} registrations per module, each "
          f"with a new sha256 (cold AOT cache)")
    for example in ("anomaly", "digits_pre"):
        wasm = open(f"{args.examples_dir}/{example}.wasm", "rb").read()
        reg = []
        for i in range(args.repeat):
            name = f"{example}-{i}"
            spec = f'{{"name":"{name}","runtime":"wasm"}}'
            body, ctype = multipart(spec, with_nonce(wasm, f"{time.time_ns()}-{i}"))
            t0 = time.perf_counter()
            conn.request("POST", "/v1/functions", body=body, headers={"Content-Type": ctype})
            r = conn.getresponse()
            data = r.read()
            reg.append((time.perf_counter() - t0) * 1000)
            if r.status != 201:
                raise SystemExit(f"register {name}: {r.status} {data[:300]!r}")
        name = f"{example}-{args.repeat - 1}"
        first = invoke_ms(conn, name, INPUTS[example])
        # Until the optimized code serves: the background compiles (children
        # of the gateway and the executor) have finished.
        t_settle = time.perf_counter()
        while any(compiling(p) for p in pids) and time.perf_counter() - t_settle < 300:
            time.sleep(0.1)
        settle_s = time.perf_counter() - t_settle
        conn.close()  # the server may have closed the idle connection
        for _ in range(20):
            invoke_ms(conn, name, INPUTS[example])
        steady = sorted(invoke_ms(conn, name, INPUTS[example]) for _ in range(300))
        print(f"{example:10s} register p50 {statistics.median(reg):7.1f}  min {min(reg):7.1f}  "
              f"max {max(reg):7.1f} | first invoke {first:6.2f} | compiles done "
              f"{settle_s:5.1f} s later | steady invoke p50 "
              f"{steady[len(steady) // 2]:6.3f}  p99 {steady[int(len(steady) * 0.99)]:6.3f}")


if __name__ == "__main__":
    sys.exit(main())
