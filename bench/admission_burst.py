#!/usr/bin/env python3
# Usage: [N=200] [WARM=2000] [TIMEOUT_MS=4000] [MAXC=n] python3 bench/admission_burst.py build/release/bin build/release/functions/examples/wasm/slow.wasm
# (the issue-10 admission-control before/after measurement; stderr logs in /tmp/stoa-*.admission.log)
"""200 concurrent invocations of a ~2 s Wasm busy loop against a real gateway
(small edge pool) + cloud executor. Reports statuses, Retry-After, time to
first refusal, refusal/accept latencies, /readyz and /healthz during the
burst, VmHWM of both processes."""
import http.client, json, os, subprocess, sys, threading, time, uuid, statistics

BIN = sys.argv[1]
WASM = sys.argv[2]
N = int(os.environ.get("N", "200"))
EXTRA_GW = os.environ.get("GW_ARGS", "").split()
EXTRA_EX = os.environ.get("EX_ARGS", "").split()
TIMEOUT_MS = int(os.environ.get("TIMEOUT_MS", "4000"))
MAXC = os.environ.get("MAXC")

def start(args):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open("/tmp/%s.admission.log" % os.path.basename(args[0]), "w"))
    line = p.stdout.readline().decode()
    return p, line.strip().split()[-1]

def vm(pid, field):
    for l in open("/proc/%d/status" % pid):
        if l.startswith(field + ":"):
            return int(l.split()[1])
    return -1

def req(addr, method, path, body=b"", ctype="application/octet-stream", timeout=60):
    h, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(port), timeout=timeout)
    c.request(method, path, body=body, headers={"Content-Type": ctype})
    r = c.getresponse()
    data = r.read()
    hdr = dict((k.lower(), v) for k, v in r.getheaders())
    c.close()
    return r.status, data, hdr

ex, exaddr = start([BIN + "/stoa-executor", "--listen", "127.0.0.1:0", "--threads", "2"] + EXTRA_EX)
d = "/tmp/admission-data-" + uuid.uuid4().hex[:6]
gw, gwaddr = start([BIN + "/stoa-gateway", "--listen", "127.0.0.1:0", "--data-dir", d, "--cloud", exaddr, "--edge-threads", "2"] + EXTRA_GW)
try:
    wasm = open(WASM, "rb").read()
    b = "----x" + uuid.uuid4().hex
    limits = {"timeout_ms": TIMEOUT_MS}
    if MAXC: limits["max_concurrency"] = int(MAXC)
    spec = json.dumps({"name": "slow", "runtime": "wasm", "limits": limits}).encode()
    body = (b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="spec"\r\nContent-Type: application/json\r\n\r\n' + spec +
            b"\r\n--" + b.encode() + b'\r\nContent-Disposition: form-data; name="artifact"; filename="a.wasm"\r\nContent-Type: application/wasm\r\n\r\n' + wasm +
            b"\r\n--" + b.encode() + b"--\r\n")
    t = time.time(); s, data, _ = req(gwaddr, "POST", "/v1/functions", body, "multipart/form-data; boundary=" + b, timeout=300)
    print("register", s, "%.1fs" % (time.time() - t))
    # warm both tiers
    for tier in ("edge", "cloud"):
        s, data, _ = req(gwaddr, "POST", "/v1/functions/slow/invoke?tier=" + tier, os.environ.get("WARM", "10").encode())
        print("warm", tier, s, data[:60])
    hwm0 = (vm(gw.pid, "VmHWM"), vm(ex.pid, "VmHWM"))
    results = [None] * N
    start_evt = threading.Event()
    t0 = [0.0]
    def one(i):
        start_evt.wait()
        st = time.time()
        try:
            s, data, hdr = req(gwaddr, "POST", "/v1/functions/slow/invoke", b"2000")
        except Exception as e:
            s, data, hdr = 0, str(e).encode(), {}
        results[i] = (s, time.time() - st, time.time() - t0[0], hdr.get("retry-after"), data[:200])
    ths = [threading.Thread(target=one, args=(i,)) for i in range(N)]
    for th in ths: th.start()
    probes = []
    stop = [False]
    def prober():
        while not stop[0]:
            tt = time.time()
            try:
                a = req(gwaddr, "GET", "/readyz", timeout=10)[0]
                h = req(gwaddr, "GET", "/healthz", timeout=10)[0]
            except Exception as e:
                a = h = 0
            probes.append((round(tt - t0[0], 2), a, h))
            time.sleep(0.25)
    t0[0] = time.time()
    start_evt.set()
    pt = threading.Thread(target=prober); pt.start()
    for th in ths: th.join()
    wall = time.time() - t0[0]
    time.sleep(0.6)
    stop[0] = True; pt.join()
    after = (req(gwaddr, "GET", "/readyz")[0], req(gwaddr, "GET", "/healthz")[0])
    by = {}
    for r in results: by.setdefault(r[0], []).append(r)
    print("wall %.2fs" % wall)
    for s, rs in sorted(by.items()):
        lat = sorted(x[1] for x in rs)
        ra = sum(1 for x in rs if x[3] is not None)
        print("status %d: %d  p50 %.3fs p99 %.3fs max %.3fs  first-done %.3fs  with Retry-After %d  e.g. %s" % (
            s, len(rs), lat[len(lat)//2], lat[min(len(lat)-1, int(len(lat)*0.99))], lat[-1],
            min(x[2] for x in rs), ra, rs[0][4]))
    print("readyz during (t, readyz, healthz):", probes[:12], "... codes seen", sorted(set(p[1] for p in probes)), "healthz seen", sorted(set(p[2] for p in probes)))
    print("after: readyz", after[0], "healthz", after[1])
    print("VmHWM KiB gw %d->%d ex %d->%d; VmRSS gw %d ex %d" % (hwm0[0], vm(gw.pid, "VmHWM"), hwm0[1], vm(ex.pid, "VmHWM"), vm(gw.pid, "VmRSS"), vm(ex.pid, "VmRSS")))
finally:
    gw.kill(); ex.kill()
