#!/usr/bin/env python3
"""Writes the hand-made seeds of each fuzz target's corpus (tests/fuzz/<target>/corpus/seed-*).

Run from anywhere; rewrites only seed-* files, so inputs merged back by
tests/fuzz/run.sh stay. The ONNX seeds are the examples (functions/examples) and tiny
hand-encoded models; the Wasm seeds a hand-encoded module and the built
examples (build/release/functions/examples/wasm, when present, <= 64 KiB).
"""
import base64
import json
import pathlib
import shutil
import subprocess

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent.parent

SPEC = {"name": "digits", "runtime": "onnx", "tiers": ["edge", "cloud"], "slo_ms": 50,
        "batching": {"max_batch": 8, "max_delay_us": 500},
        "limits": {"timeout_ms": 1000, "memory_mb": 64}, "description": "handwritten digits"}
WASM_SPEC = {"name": "upload", "runtime": "wasm", "tiers": ["edge"], "content_type": "text/plain",
             "limits": {"timeout_ms": 100}}
INFER = {"id": "r1", "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                 "data": [0.5, 1, -2.25, 3e10]},
                                {"name": "mask", "shape": [2], "datatype": "BOOL", "data": [True, False]}],
         "outputs": [{"name": "x"}], "parameters": {"p": 1}}
INFER_NESTED = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                            "data": [[1, 2, 3, 4], [5, 6, 7, 8]]},
                           {"name": "mask", "shape": [2], "datatype": "BOOL", "data": [True, False]}]}
INFER_TYPES = {"inputs": [
    {"name": "a", "shape": [2], "datatype": "INT64", "data": [-9223372036854775808, 9223372036854775807]},
    {"name": "b", "shape": [3], "datatype": "UINT8", "data": [0, 255, 7]},
    {"name": "c", "shape": [1], "datatype": "INT8", "data": [-128]},
    {"name": "d", "shape": [2], "datatype": "FP64", "data": [1e308, -0.0]},
    {"name": "e", "shape": [1, 1], "datatype": "INT32", "data": [[2147483647]]},
    {"name": "f", "shape": [0], "datatype": "FP32", "data": []}]}
POLICY = {"policy": "slo", "objective": "p95", "slo_ms": 50, "shadow_rate": 0.1,
          "explore_budget": 0.02, "hedge": True, "smoothing": 0.2,
          "weights": {"latency": 1, "cost": 0.5, "energy": 0.25},
          "circuit": {"failures": 3, "open_ms": 5000}}
POLICY_YAML = """policy: weighted
objective: mean
slo_ms: 80.5
hedge: false
weights:
  latency: 1
  cost: 2
  energy: 0
circuit:
  failures: 5
  open_ms: 1000
"""


def j(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def multipart(boundary, parts):
    out = b""
    for name, filename, ctype, body in parts:
        out += b"--" + boundary + b"\r\n"
        disp = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename:
            disp += b'; filename="' + filename + b'"'
        out += disp + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype + b"\r\n"
        out += b"\r\n" + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def http(method, target, body=b"", headers=(), chunked=False):
    head = method.encode() + b" " + target.encode() + b" HTTP/1.1\r\nHost: gw\r\n"
    for k, v in headers:
        head += k.encode() + b": " + v.encode() + b"\r\n"
    if chunked:
        head += b"Transfer-Encoding: chunked\r\n\r\n"
        mid = len(body) // 2
        for piece in (body[:mid], body[mid:]):
            if piece:
                head += b"%x\r\n" % len(piece) + piece + b"\r\n"
        return head + b"0\r\n\r\n"
    if body or method in ("POST", "PUT"):
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


# A tiny valid wasm module: (module (memory 1) (func (export "_start")) (export "memory" (memory 0)))
WASM_MIN = bytes.fromhex(
    "0061736d01000000"          # magic, version
    "010401600000"              # type: () -> ()
    "03020100"                  # func 0: type 0
    "0503010001"                # memory: min 1
    "07130206"                  # exports: 2
    + b"_start".hex() + "0000"  # "_start" func 0
    + "06" + b"memory".hex() + "0200"  # "memory" memory 0
    + "0a040102000b")           # code: 1 body, size 2, no locals, end
WASM_EMPTY = bytes.fromhex("0061736d01000000")


# A minimal protobuf writer, enough for ONNX ModelProto seeds (no onnx
# package here): field(n, payload) is length-delimited, varint(n, v) a varint.
def _varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(n, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return _varint(n << 3 | 2) + _varint(len(payload)) + payload


def varint(n, v):
    return _varint(n << 3) + _varint(v)


def value_info(name, dims, elem_type=1):
    shape = b"".join(field(1, varint(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, varint(1, elem_type) + field(2, shape)))


def node(op, inputs, outputs, attrs=b""):
    return (b"".join(field(1, i) for i in inputs) + b"".join(field(2, o) for o in outputs) +
            field(4, op) + attrs)


def model(nodes, inputs, outputs, initializers=(), opset=13):
    graph = (b"".join(field(1, n) for n in nodes) + field(2, "g") +
             b"".join(field(5, t) for t in initializers) +
             b"".join(field(11, v) for v in inputs) + b"".join(field(12, v) for v in outputs))
    return varint(1, 8) + field(7, graph) + field(8, field(1, "") + varint(2, opset))


def float_tensor(name, dims, values):
    import struct
    return (b"".join(varint(1, d) for d in dims) + varint(2, 1) + field(8, name) +
            field(9, struct.pack("<%df" % len(values), *values)))


ONNX_RELU = model([node("Relu", ["x"], ["y"])], [value_info("x", [1, 4])], [value_info("y", [1, 4])])
ONNX_ADD_INIT = model([node("Add", ["x", "b"], ["y"])], [value_info("x", [1, 4])],
                      [value_info("y", [1, 4])], [float_tensor("b", [4], [1, 2, 3, 4])])
ONNX_GEMM_SOFTMAX = model(
    [node("Gemm", ["x", "w", "b"], ["h"], field(5, field(1, "transB") + varint(3, 1) + varint(20, 2))),
     node("Softmax", ["h"], ["y"])],
    [value_info("x", [1, 4])], [value_info("y", [1, 2])],
    [float_tensor("w", [2, 4], [0.5] * 8), float_tensor("b", [2], [0, 1])])


def seeds():
    wasm_spec_part = multipart(b"XyZ", [(b"spec", None, b"application/json", j(WASM_SPEC)),
                                        (b"artifact", b"m.wasm", b"application/wasm", WASM_MIN)])
    onnx_spec_part = multipart(b"----b0und", [(b"spec", None, None, j(SPEC)),
                                              (b"artifact", b"d.onnx", None, b"\x08\x07\x12\x00--\r\n")])
    yield "http_request", {
        "healthz": http("GET", "/healthz"),
        "readyz-live": http("GET", "/readyz") + http("GET", "/v2/health/live") + http("HEAD", "/v2/health/ready"),
        "invoke": http("POST", "/v1/functions/digits/invoke", j({k: v for k, v in INFER.items() if k != "outputs"}), [("Content-Type", "application/json")]),
        "invoke-nested-tier": http("POST", "/v1/functions/digits/invoke?tier=cloud", j(INFER_NESTED)),
        "infer-chunked": http("POST", "/v2/models/digits/infer", j(INFER_NESTED), chunked=True),
        "invoke-unknown-output": http("POST", "/v1/functions/digits/invoke", j(INFER)),
        "invoke-wasm": http("POST", "/v1/functions/echo/invoke?tier=edge", b"hello\x00\xff",
                            [("Content-Type", "application/octet-stream"), ("Expect", "100-continue")]),
        "register-multipart": http("POST", "/v1/functions", wasm_spec_part,
                                   [("Content-Type", 'multipart/form-data; boundary="XyZ"')]),
        "register-onnx-multipart": http("PUT", "/v1/functions/digits", onnx_spec_part,
                                        [("Content-Type", "multipart/form-data; boundary=----b0und")]),
        "register-json": http("POST", "/v1/functions", j(dict(WASM_SPEC, name="e2", artifact_base64=base64.b64encode(WASM_MIN).decode())),
                              [("Content-Type", "application/json; charset=utf-8")]),
        "list-describe": http("GET", "/v1/functions") + http("GET", "/v1/functions/digits") +
                         http("GET", "/v2/models/digits") + http("GET", "/v2/models/digits/ready"),
        "delete": http("DELETE", "/v1/functions/echo") + http("GET", "/v1/functions/echo"),
        "policy": http("PUT", "/v1/policy", j(POLICY)) + http("GET", "/v1/policy"),
        "function-policy": http("PUT", "/v1/functions/digits/policy", j({"policy": "edge_only"})) +
                           http("GET", "/v1/functions/digits/policy") + http("DELETE", "/v1/functions/digits/policy"),
        "state-metrics": http("GET", "/v1/scheduler/state") + http("GET", "/metrics"),
        "method-not-allowed": http("PATCH", "/v1/functions/digits"),
        "percent-query": http("GET", "/v1/functions/dig%69ts?a=b+c&d&e=%41"),
        "absolute-form": b"GET http://gw/healthz HTTP/1.1\r\nHost: gw\r\n\r\n",
        "http10": b"GET /healthz HTTP/1.0\r\n\r\n",
    }
    yield "multipart", {
        "wasm": b'multipart/form-data; boundary="XyZ"\n' + wasm_spec_part,
        "onnx": b"multipart/form-data; boundary=----b0und\n" + onnx_spec_part,
        "preamble": b"multipart/form-data; boundary=b\nignored\r\n--b\r\ncontent-disposition: form-data; name=spec\r\n\r\n{}\r\n--b--",
        "empty-part": b"multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b--\r\n",
    }
    yield "kserve_codec", {
        "basic": j(INFER), "nested": j(INFER_NESTED), "types": j(INFER_TYPES),
        "digits": (ROOT / "functions/examples/digits/sample_request.json").read_bytes(),
    }
    yield "spec_json", {
        "onnx": j(SPEC), "wasm": j(WASM_SPEC), "minimal": j({"name": "f", "runtime": "onnx"}),
        "base64": j(dict(WASM_SPEC, artifact_base64="AGFzbQEAAAA=")),
    }
    yield "policy_config", {
        "json": b"\x00" + j(POLICY), "json-min": b"\x00" + j({"policy": "edge_only"}),
        "yaml": b"\x01" + POLICY_YAML.encode(),
        "yaml-flow": b"\x01{policy: round_robin, hedge: true, circuit: {failures: 1}}",
    }
    yield "onnx_load", {
        "digits.onnx": (ROOT / "functions/examples/digits/digits.onnx").read_bytes(),
        "lenet.onnx": (ROOT / "functions/examples/lenet/lenet.onnx").read_bytes(),
        "relu.onnx": ONNX_RELU, "add-initializer.onnx": ONNX_ADD_INIT,
        "gemm-softmax.onnx": ONNX_GEMM_SOFTMAX,
    }
    wasm = {"min.wasm": WASM_MIN, "empty.wasm": WASM_EMPTY}
    built = ROOT / "build/release/functions/examples/wasm"  # the examples, when built
    for path in sorted(built.glob("*.wasm")) if built.is_dir() else []:
        if path.stat().st_size <= 64 * 1024:
            wasm[path.name] = path.read_bytes()
    yield "wasm_load", wasm
    def binary(header, tail=b"", length=None):
        h = j(header)
        return str(len(h) if length is None else length).encode() + b"\n" + h + tail
    f32 = {"name": "x", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
    yield "kserve_binary", {
        "fp32": binary({"inputs": [f32], "parameters": {"binary_data_output": True}},
                       b"\x00\x00\x80\x3f\x00\x00\x00\xc0"),
        "mixed": binary({"id": "m", "inputs": [
            {"name": "i", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
            {"name": "m", "shape": [3], "datatype": "BOOL", "data": [True, False, True]},
            {"name": "h", "shape": [1], "datatype": "FP16", "parameters": {"binary_data_size": 2}}],
            "outputs": [{"name": "i", "parameters": {"binary_data": True}}]},
            b"\x01" + b"\x00" * 7 + b"\xff" * 8 + b"\x00\x3c"),
        "json-only": b"\n" + j(INFER_TYPES),
        "short": binary({"inputs": [f32]}, b"\x00\x00"),
        "long": binary({"inputs": [f32]}, b"\x00" * 12),
        "past-body": binary({"inputs": [f32]}, b"\x00" * 8, length=999),
        "size-mismatch": binary({"inputs": [dict(f32, parameters={"binary_data_size": 4})]}, b"\x00" * 4),
        "huge-size": binary({"inputs": [dict(f32, parameters={"binary_data_size": 18446744073709551615})]}),
        "bytes": binary({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 7}}]}, b"\x03\x00\x00\x00abc"),
        "empty": binary({"inputs": [{"name": "e", "shape": [0, 4], "datatype": "UINT8",
                                     "parameters": {"binary_data_size": 0}}]}),
    }
    yield "linkem_control", {
        "get": b"GET /link\n",
        "put": b'PUT /link\n{"delay_ms":45,"jitter_ms":5,"rate_mbit":7.21,"loss":0.01}',
        "put-partial": b'PUT /link\n{"loss":1}',
        "put-bad": b'PUT /link\n{"delay_ms":-1}',
        "post": b"POST /link\n{}",
        "other": b"GET /nope?x=1\n",
    }


def main():
    for target, files in seeds():
        corpus = FUZZ / target / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (corpus / ("seed-" + name)).write_bytes(data)
    print("seeds written under", FUZZ)


if __name__ == "__main__":
    main()
