#!/usr/bin/python3
"""Checks that deploy/k8s and deploy/images agree with the binaries.

For every rendered overlay (kubectl kustomize) and every container running
stoa-gateway or stoa-executor:
  - every --flag in args exists in the binary's --help;
  - container ports carry the ports of --listen / --health-listen /
    --metrics-listen, and nothing else;
  - the gateway's readiness probe is GET /readyz and its liveness probe GET
    /healthz on the --listen port (HTTPS exactly when --tls-cert is given);
    the executor's probes are the kubelet's grpc: probe on the
    --health-listen port, readiness for the service stoa.v1.Executor;
  - terminationGracePeriodSeconds covers --shutdown-delay-ms plus
    --shutdown-grace-ms plus the binaries' 1 s margin;
  - every file or directory a flag names lies on a mounted volume (the root
    file system is read-only), and every volume mount has a volume;
  - environment variables set, if any, are read by the binary;
  - Services' target ports and the ServiceMonitor's port are ports of the
    pods they select; the HPA's metric is exported by a running executor.
For every Dockerfile under deploy/images: files copied from the build
context exist, binaries copied are CMake targets, the image runs as a
non-root USER, and the flags of its CMD exist.
Exit 0 when all agree, 1 with one line per disagreement, 77 (skipped) when
kubectl is missing.

  agree_test.py BIN_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRACE_MARGIN_MS = 1000  # kShutdownMargin in gateway_main.cc and executor_main.cc
PATH_FLAGS = {"--data-dir", "--wasm-cache-dir", "--auth-file", "--tls-cert", "--tls-key",
              "--tls-client-ca", "--executor-tls-cert", "--executor-tls-key",
              "--executor-tls-ca", "--policy-file", "--config", "--jwt-hs256-secret-file",
              "--jwt-rs256-public-key", "--artifact-store"}
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def help_flags(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(?m)^\s+(--[a-z0-9-]+)", out)) | {"--help"}


def parse_args(args):
    """{flag: [values]} from an args list ("--flag value" or "--flag=value")."""
    flags = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            i += 1
            continue
        if "=" in arg:
            name, value = arg.split("=", 1)
            flags.setdefault(name, []).append(value)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            flags.setdefault(arg, []).append(args[i + 1])
            i += 2
        else:
            flags.setdefault(arg, []).append(None)
            i += 1
    return flags


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def render(directory):
    out = subprocess.run(["kubectl", "kustomize", directory], capture_output=True, text=True)
    if out.returncode != 0:
        problem(directory, f"kubectl kustomize failed: {out.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
        return obj["spec"]["template"]
    return None


def probe_port(container, port):
    """A probe's port (number or name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def check_paths(where, container, volumes, flags):
    mounts = container.get("volumeMounts", [])
    for m in mounts:
        if m["name"] not in volumes:
            problem(where, f"volumeMount {m['name']} has no volume")
    for flag, values in flags.items():
        if flag not in PATH_FLAGS:
            continue
        for v in values:
            if not any(v == m["mountPath"] or v.startswith(m["mountPath"].rstrip("/") + "/")
                       for m in mounts):
                problem(where, f"{flag} {v} is not on a mounted volume (root file system is "
                               "read-only)")


def check_gateway(where, container, flags, grace_s):
    listen = flags.get("--listen", ["127.0.0.1:8080"])[-1]
    port = port_of(listen)
    scheme = "HTTPS" if "--tls-cert" in flags else "HTTP"
    ports = {p["containerPort"] for p in container.get("ports", [])}
    if ports != {port}:
        problem(where, f"container ports {sorted(ports)} are not the --listen port {port}")
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        probe = container.get(kind, {}).get("httpGet")
        if probe is None:
            problem(where, f"{kind} is not an httpGet probe")
            continue
        if probe.get("path") != path:
            problem(where, f"{kind} path {probe.get('path')} is not {path}")
        if probe_port(container, probe.get("port")) != port:
            problem(where, f"{kind} port {probe.get('port')} is not the --listen port {port}")
        if probe.get("scheme", "HTTP") != scheme:
            problem(where, f"{kind} scheme {probe.get('scheme', 'HTTP')} is not {scheme}")
    check_grace(where, flags, grace_s)


def check_executor(where, container, flags, grace_s):
    expected = {port_of(flags.get("--listen", ["127.0.0.1:50051"])[-1])}
    health = flags.get("--health-listen", [None])[-1]
    if health is None:
        problem(where, "no --health-listen: the kubelet's grpc: probe cannot present a client "
                       "certificate")
    else:
        expected.add(port_of(health))
    if "--metrics-listen" in flags:
        expected.add(port_of(flags["--metrics-listen"][-1]))
    ports = {p["containerPort"] for p in container.get("ports", [])}
    if ports != expected:
        problem(where, f"container ports {sorted(ports)} are not the flags' ports "
                       f"{sorted(expected)}")
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container.get(kind, {}).get("grpc")
        if probe is None:
            problem(where, f"{kind} is not a grpc: probe")
            continue
        if health is not None and probe.get("port") != port_of(health):
            problem(where, f"{kind} port {probe.get('port')} is not --health-listen's")
        if probe.get("service", "") not in ("", "stoa.v1.Executor"):
            problem(where, f"{kind} asks for service {probe['service']}, which is not served")
    if container.get("readinessProbe", {}).get("grpc", {}).get("service") != "stoa.v1.Executor":
        problem(where, "readinessProbe should ask for stoa.v1.Executor")
    check_grace(where, flags, grace_s)


def check_grace(where, flags, grace_s):
    grace_ms = int(flags.get("--shutdown-grace-ms", ["10000"])[-1])
    delay_ms = int(flags.get("--shutdown-delay-ms", ["0"])[-1])
    if grace_s is None or grace_s * 1000 < delay_ms + grace_ms + GRACE_MARGIN_MS:
        problem(where, f"terminationGracePeriodSeconds {grace_s} is shorter than "
                       f"--shutdown-delay-ms {delay_ms} + --shutdown-grace-ms {grace_ms} + "
                       f"{GRACE_MARGIN_MS} ms")


def check_objects(name, objects, bins, known_flags, strings):
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        problem(name, f"objects are spread over namespaces {sorted(map(str, namespaces))}")
    pods = []  # (labels, containers)
    for obj in objects:
        template = pod_spec(obj)
        if template is None:
            continue
        spec = template["spec"]
        volumes = {v["name"] for v in spec.get("volumes", [])}
        pods.append((template["metadata"].get("labels", {}), spec["containers"]))
        for c in spec["containers"]:
            where = f"{name}: {obj['kind']} {obj['metadata']['name']} container {c['name']}"
            image = c["image"].rsplit("/", 1)[-1].split(":")[0]
            binary = {"gateway": "stoa-gateway", "executor": "stoa-executor",
                      "executor-cuda": "stoa-executor"}.get(image)
            if binary is None:
                problem(where, f"image {c['image']} is none of the images deploy/images builds")
                continue
            flags = parse_args(c.get("args", []))
            for flag in flags:
                if flag not in known_flags[binary]:
                    problem(where, f"{flag} is not a flag of {binary} (--help)")
            for env in c.get("env", []):
                if env["name"].encode() not in strings[binary]:
                    problem(where, f"environment {env['name']} is not read by {binary}")
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation", True):
                problem(where, "securityContext: want readOnlyRootFilesystem, no privilege "
                               "escalation")
            if not spec.get("securityContext", {}).get("runAsNonRoot"):
                problem(where, "the pod does not set runAsNonRoot")
            check_paths(where, c, volumes, flags)
            grace = spec.get("terminationGracePeriodSeconds")
            if binary == "stoa-gateway":
                check_gateway(where, c, flags, grace)
            else:
                check_executor(where, c, flags, grace)
                if image == "executor-cuda" and flags.get("--device", [None])[-1] != "cuda":
                    problem(where, "the CUDA image should run --device cuda")

    def selected(selector):
        return [cs for labels, cs in pods if all(labels.get(k) == v for k, v in selector.items())]

    for obj in objects:
        where = f"{name}: {obj['kind']} {obj['metadata']['name']}"
        # An ExternalName Service (the etcd overlay's stoa-etcd) points outside
        # the manifests: no pods to agree with.
        if obj["kind"] == "Service" and obj["spec"].get("type") != "ExternalName":
            members = selected(obj["spec"].get("selector", {}))
            if not members:
                problem(where, "selects no pod")
            for p in obj["spec"].get("ports", []):
                target = p.get("targetPort", p["port"])
                for cs in members:
                    if not any(cp.get("name") == target or cp["containerPort"] == target
                               for c in cs for cp in c.get("ports", [])):
                        problem(where, f"targetPort {target} is not a port of its pods")
        if obj["kind"] == "ServiceMonitor":
            services = [o for o in objects if o["kind"] == "Service" and all(
                o["metadata"].get("labels", {}).get(k) == v
                for k, v in obj["spec"]["selector"]["matchLabels"].items())]
            if not services:
                problem(where, "selects no Service")
            for ep in obj["spec"]["endpoints"]:
                for s in services:
                    if not any(p.get("name") == ep["port"] for p in s["spec"]["ports"]):
                        problem(where, f"Service {s['metadata']['name']} has no port "
                                       f"{ep['port']}")
        if obj["kind"] == "HorizontalPodAutoscaler":
            target = obj["spec"]["scaleTargetRef"]["name"]
            if not any(o["kind"] == obj["spec"]["scaleTargetRef"]["kind"] and
                       o["metadata"]["name"] == target for o in objects):
                problem(where, f"scales {target}, which is not in the overlay")
            for m in obj["spec"]["metrics"]:
                metric = m.get("pods", m.get("external", {})).get("metric", {}).get("name")
                if metric not in EXPORTED:
                    problem(where, f"metric {metric} is not exported by stoa-executor")


def check_dockerfiles(targets, known_flags):
    directory = os.path.join(ROOT, "deploy", "images")
    files = sorted(f for f in os.listdir(directory) if f.endswith(".Dockerfile"))
    if len(files) < 3:
        problem("deploy/images", f"expected gateway, executor and executor-cuda, found {files}")
    for f in files:
        where = f"deploy/images/{f}"
        text = open(os.path.join(directory, f)).read()
        stages = text.count("\nFROM ") + text.startswith("FROM ")
        if stages < 2:
            problem(where, "not a multi-stage build")
        user = re.findall(r"(?m)^USER\s+(\S+)", text)
        if not user or user[-1].split(":")[0] in ("0", "root"):
            problem(where, "the final stage does not run as a non-root USER")
        for src, _ in re.findall(r"(?m)^COPY\s+(?!--from)(\S+)\s+(\S+)", text):
            if src != "." and not os.path.exists(os.path.join(ROOT, src)):
                problem(where, f"COPY {src}: no such file in the repository")
        for script in re.findall(r"(deploy/[\w/.-]+\.sh)", text):
            if not os.access(os.path.join(ROOT, script), os.X_OK):
                problem(where, f"{script} does not exist or is not executable")
        for binary in re.findall(r"build/release/bin/([\w-]+)", text) + re.findall(
                r"--target\s+([\w-]+)", text):
            if binary not in targets:
                problem(where, f"{binary} is not a CMake target")
        entry = re.findall(r'(?m)^ENTRYPOINT\s+\["([^"]+)"', text)
        binary = os.path.basename(entry[-1]) if entry else None
        if binary not in known_flags:
            problem(where, f"ENTRYPOINT {entry} is not stoa-gateway or stoa-executor")
            continue
        if not re.search(rf"(?m)^COPY --from=\S+ \S+/{binary} {re.escape(entry[-1])}$", text):
            problem(where, f"the ENTRYPOINT {entry[-1]} is not copied from the build stage")
        cmd = re.findall(r"(?m)^CMD\s+(\[.*\])", text)
        for flag in parse_args(json.loads(cmd[-1]) if cmd else []):
            if flag not in known_flags[binary]:
                problem(where, f"CMD flag {flag} is not a flag of {binary}")


def exported_metrics(executor):
    """Metric names a running executor serves on /metrics."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([executor, "--listen", "127.0.0.1:0", "--metrics-listen",
                             f"127.0.0.1:{port}", "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        proc.stdout.readline()
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=2).read().decode()
                return set(re.findall(r"(?m)^# TYPE (\S+)", body))
            except OSError:
                time.sleep(0.1)
        return set()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    bin_dir = sys.argv[1]
    if shutil.which("kubectl") is None:
        print("SKIPPED: kubectl not found (deploy/setup-deps.sh installs kubernetes-client)")
        return 77
    bins = {b: os.path.join(bin_dir, b) for b in ("stoa-gateway", "stoa-executor")}
    known_flags = {b: help_flags(p) for b, p in bins.items()}
    strings = {b: open(p, "rb").read() for b, p in bins.items()}
    global EXPORTED
    EXPORTED = exported_metrics(bins["stoa-executor"])
    if "stoa_executor_pending" not in EXPORTED:
        problem("stoa-executor", f"/metrics did not list stoa_executor_pending: {EXPORTED}")
    cmake = open(os.path.join(ROOT, "gateway", "CMakeLists.txt")).read() + open(
        os.path.join(ROOT, "executors", "CMakeLists.txt")).read()
    targets = set(re.findall(r"stoa_cc_binary\(NAME ([\w-]+)", cmake))
    dirs = [os.path.join(ROOT, "deploy", "k8s", "base")]
    overlays = os.path.join(ROOT, "deploy", "k8s", "overlays")
    dirs += [os.path.join(overlays, d) for d in sorted(os.listdir(overlays))]
    for d in dirs:
        name = os.path.relpath(d, os.path.join(ROOT, "deploy", "k8s"))
        objects = render(d)
        check_objects(name, objects, bins, known_flags, strings)
        print(f"{name}: {len(objects)} objects checked")
    check_dockerfiles(targets, known_flags)
    for p in problems:
        print("DISAGREE", p)
    print(f"{len(problems)} disagreements")
    return 1 if problems else 0


EXPORTED = set()
if __name__ == "__main__":
    sys.exit(main())
