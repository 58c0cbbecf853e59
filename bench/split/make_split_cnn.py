#!/usr/bin/python3
"""Writes the CNN of the split-inference benchmark (docs/split.md).

Run with Debian's interpreter (numpy, onnx):
    /usr/bin/python3 bench/split/make_split_cnn.py [--out-dir DIR]

A 224x224 RGB frame (1x3x224x224 FP32, 602 KB) goes through a cheap
stride-8 "stem" convolution that shrinks it to 1x16x28x28 (50 KB), two 3x3
convolutions (16->64->64 at 28x28, ~36 M multiply-adds) pooled to 14x14, a
1x1 "squeeze" to 8 channels (the 6 KB "bottleneck"), then the heavy part
(8->256->256 3x3 at 14x14, ~123 M multiply-adds), global average pooling
and a classifier. The early cut is cheap to reach but large, the
bottleneck small but after a quarter of the work, so which one is best
depends on the uplink. Weights are random (He
initialisation, fixed seed): it measures compute, it classifies nothing.
Writes DIR/split_cnn.onnx and DIR/payload.json (one KServe v2 request).
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 0


def conv_init(name, cin, cout, k, rng):
    w = rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
    return [numpy_helper.from_array(w, name + ".weight"),
            numpy_helper.from_array(np.zeros(cout, dtype=np.float32), name + ".bias")]


def build(rng):
    inits = conv_init("stem", 3, 16, 8, rng)
    inits += conv_init("conv1", 16, 64, 3, rng)
    inits += conv_init("conv2", 64, 64, 3, rng)
    inits += conv_init("squeeze", 64, 8, 1, rng)
    inits += conv_init("conv4", 8, 256, 3, rng)
    inits += conv_init("conv5", 256, 256, 3, rng)
    fc = rng.normal(0, np.sqrt(1.0 / 256), (10, 256)).astype(np.float32)
    inits += [numpy_helper.from_array(fc, "fc.weight"),
              numpy_helper.from_array(np.zeros(10, dtype=np.float32), "fc.bias")]
    same = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    n = helper.make_node
    nodes = [
        n("Conv", ["image", "stem.weight", "stem.bias"], ["s"], name="stem",
          kernel_shape=[8, 8], strides=[8, 8]),
        n("Relu", ["s"], ["stem_out"], name="stem_relu"),
        n("Conv", ["stem_out", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", **same),
        n("Relu", ["c1"], ["r1"], name="relu1"),
        n("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", **same),
        n("Relu", ["c2"], ["r2"], name="relu2"),
        n("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
        n("Conv", ["p2", "squeeze.weight", "squeeze.bias"], ["q"], name="squeeze",
          kernel_shape=[1, 1]),
        n("Relu", ["q"], ["bottleneck"], name="squeeze_relu"),
        n("Conv", ["bottleneck", "conv4.weight", "conv4.bias"], ["c4"], name="conv4", **same),
        n("Relu", ["c4"], ["r4"], name="relu4"),
        n("Conv", ["r4", "conv5.weight", "conv5.bias"], ["c5"], name="conv5", **same),
        n("Relu", ["c5"], ["r5"], name="relu5"),
        n("GlobalAveragePool", ["r5"], ["g"], name="gap"),
        n("Flatten", ["g"], ["flat"], name="flatten", axis=1),
        n("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        n("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "stoa_split_bench",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="stoa-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    model = build(rng)
    os.makedirs(args.out_dir, exist_ok=True)
    onnx.save(model, os.path.join(args.out_dir, "split_cnn.onnx"))
    image = rng.uniform(0, 1, (1, 3, 224, 224)).astype(np.float32)
    body = {"inputs": [{"name": "image", "shape": [1, 3, 224, 224], "datatype": "FP32",
                        "data": [round(float(v), 4) for v in image.ravel()]}]}
    with open(os.path.join(args.out_dir, "payload.json"), "w") as f:
        json.dump(body, f)
    print("wrote %s/split_cnn.onnx and payload.json" % args.out_dir)


if __name__ == "__main__":
    main()
