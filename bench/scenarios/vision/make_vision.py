#!/usr/bin/python3
"""Writes the compute-heavy CNN of the tier-change scenario, and its payloads.

Run with Debian's interpreter (numpy, onnx):
    /usr/bin/python3 bench/scenarios/vision/make_vision.py [--out-dir DIR]

The scheduler benchmark needs a function whose execution time, not its
network time, decides the tier: digits and lenet cost tens of microseconds,
so the edge wins wherever the link is slower than a LAN. This network takes
a 64x64 RGB frame through three 3x3 convolutions (3->32->32->64 channels,
~60 M multiply-adds), so it costs tens of milliseconds on the testbed's
half-core edge and about half that on the cloud executor. Its weights are
random (He initialisation, fixed seed): it measures compute, it classifies
nothing. Writes DIR/vision.onnx (opset 13) and DIR/payloads.jsonl (four
KServe v2 request bodies, input "image" [1,3,64,64] FP32, one per line).

--wide writes DIR/vision_wide.onnx instead: the same network with twice the
channels (3->64->64->128, ~230 M multiply-adds, ~3.4x the time), for
machines where vision.onnx is so fast that a CPU quota hardly slows it (the
load-flips and quota-flips scenarios: on an AVX-512 machine vision.onnx
takes ~1.1 ms, so a 0.1-core edge answers within one quota period and the
tiers tie). Same input and payloads.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 0
CHANNELS = (3, 32, 32, 64)
WIDE_CHANNELS = (3, 64, 64, 128)
SIDE = 64
PAYLOADS = 4


def conv(name, cin, cout, rng):
    w = rng.normal(0, np.sqrt(2.0 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32)
    b = np.zeros(cout, dtype=np.float32)
    return [numpy_helper.from_array(w, name + ".weight"), numpy_helper.from_array(b, name + ".bias")]


def build(rng, channels=CHANNELS):
    inits = []
    for i in range(3):
        inits += conv("conv%d" % (i + 1), channels[i], channels[i + 1], rng)
    fc = rng.normal(0, np.sqrt(1.0 / channels[3]), (10, channels[3])).astype(np.float32)
    inits += [numpy_helper.from_array(fc, "fc.weight"),
              numpy_helper.from_array(np.zeros(10, dtype=np.float32), "fc.bias")]
    same = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", **same),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", **same),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
        helper.make_node("Conv", ["p2", "conv3.weight", "conv3.bias"], ["c3"], name="conv3", **same),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "stoa_vision_bench",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="stoa-make-vision",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = ("Benchmark CNN with random weights: conv3x3 3->%d->%d (64x64), pool, "
                        "conv3x3 %d->%d (32x32), global average pool, fc10; input [N,3,64,64]"
                        % (channels[1], channels[2], channels[2], channels[3]))
    onnx.checker.check_model(model)
    return model


def payload(rng):
    pixels = rng.integers(0, 256, size=3 * SIDE * SIDE).astype(float).tolist()
    return json.dumps({"inputs": [{"name": "image", "shape": [1, 3, SIDE, SIDE],
                                   "datatype": "FP32", "data": pixels}]},
                      separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--wide", action="store_true",
                        help="write vision_wide.onnx (twice the channels) and no payloads")
    args = parser.parse_args()
    out = args.out_dir
    rng = np.random.default_rng(SEED)
    if args.wide:
        onnx.save(build(rng, WIDE_CHANNELS), os.path.join(out, "vision_wide.onnx"))
        print("wrote vision_wide.onnx to %s" % out)
        return
    model = build(rng)
    onnx.save(model, os.path.join(out, "vision.onnx"))
    with open(os.path.join(out, "payloads.jsonl"), "w") as f:
        for _ in range(PAYLOADS):
            f.write(payload(rng) + "\n")
    print("wrote %s and %d payloads to %s" % ("vision.onnx", PAYLOADS, out))


if __name__ == "__main__":
    main()
