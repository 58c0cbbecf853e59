#!/usr/bin/python3
"""Measures what a stoa-linkem actually delivers: echo round-trip times and
bulk throughput through it, against an in-process echo server.

    deploy/testbed/measure_link.py [--bin-dir DIR] [--rtts N] [--bytes B] LINKEM-FLAG...
    e.g. deploy/testbed/measure_link.py --preset 4g

Prints the configured parameters (GET /link), the RTT p50/p95 over N 1-byte
echoes, and the time and rate of B bytes echoed back (both directions
shaped, pipelined).
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def handle(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=os.environ.get("STOA_BIN_DIR",
                                                        os.path.join(REPO, "build/release/bin")))
    ap.add_argument("--rtts", type=int, default=50)
    ap.add_argument("--bytes", type=int, default=1000000)
    args, flags = ap.parse_known_args()
    port = echo_server()
    linkem = subprocess.Popen(
        [os.path.join(args.bin_dir, "stoa-linkem"), "--listen", "127.0.0.1:0",
         "--upstream", "127.0.0.1:%d" % port, "--control", "127.0.0.1:0",
         "--log-level", "warn"] + flags, stdout=subprocess.PIPE, text=True)
    try:
        addr = linkem.stdout.readline().split(" on ")[1].strip()
        control = linkem.stdout.readline().split(" on ")[1].strip()
        host, cport = control.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(cport), timeout=5)
        conn.request("GET", "/link")
        print("link      ", conn.getresponse().read().decode())
        host, lport = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(lport)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts = []
        for _ in range(args.rtts):
            t = time.perf_counter()
            s.sendall(b"x")
            s.recv(1)
            rtts.append((time.perf_counter() - t) * 1000)
        q = statistics.quantiles(rtts, n=20)
        print("rtt ms     p50 %.1f  p95 %.1f  mean %.1f  (n=%d)"
              % (statistics.median(rtts), q[18], statistics.mean(rtts), len(rtts)))
        data = b"y" * args.bytes
        t = time.perf_counter()
        threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
        got = 0
        while got < len(data):
            got += len(s.recv(1 << 20))
        secs = time.perf_counter() - t
        # The last byte comes back one round trip after it was sent.
        rtt = statistics.median(rtts) / 1000
        print("bulk       %d bytes echoed in %.3f s = %.2f Mbit/s each way "
              "(%.2f Mbit/s after taking off one RTT)"
              % (got, secs, got * 8 / secs / 1e6, got * 8 / max(secs - rtt, 1e-9) / 1e6))
    finally:
        linkem.terminate()
        linkem.wait()


if __name__ == "__main__":
    sys.exit(main())
