#!/usr/bin/python3
"""ONNX's integer semantics for the models of make_quant_models.py, in numpy
with int64 accumulation, on stoa-time-onnx's input (sinf(0.1f * i)): prints
each model's output sum and first values, to compare with quant_bench.sh's
`sum(y)` columns (Stoa's are expected to match exactly; a runtime whose
8-bit kernels saturate intermediate sums will differ).
  /usr/bin/python3 quant_reference.py MODEL_DIR"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_quant_models as mq  # noqa: E402


def fill(n):
    return np.sin(np.float32(0.1) * np.arange(n, dtype=np.float32)).astype(np.float32)


def initializers(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def dynamic_quantize(x):
    lo, hi = min(np.float32(0), x.min()), max(np.float32(0), x.max())
    scale = np.float32((hi - lo) / np.float32(255))
    zp = np.clip(np.rint(-lo / scale), 0, 255)
    return np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.int64), scale, int(zp)


def qcnn(i):
    q = np.clip(np.rint(fill(3 * 64 * 64).reshape(3, 64, 64) / i["x_scale"]) + 128, 0, 255).astype(np.int64)
    s, z = i["x_scale"], 128
    for n, (pad, pool) in enumerate([(1, True), (1, True), (1, False), (0, True)]):
        p = f"c{n}_"
        acc = mq.im2col_conv(q - z, i[p + "w"].astype(np.int64), pad) + i[p + "b"][:, None, None]
        mult = (np.float32(s) * i[p + "w_scale"] / i[p + "y_scale"]).astype(np.float32)
        q = np.clip(np.rint(acc.astype(np.float32) * mult[:, None, None]), 0, 255).astype(np.int64)
        s, z = i[p + "y_scale"], 0
        if pool:
            c, h, w = q.shape
            q = q.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
    acc = q.reshape(1, -1) @ i["fc_w"].astype(np.int64)
    mult = np.float32(np.float32(s) * i["fc_w_scale"] / i["fc_y_scale"])
    yq = np.clip(np.rint(acc.astype(np.float32) * mult) + 128, 0, 255)
    return (yq - 128) * i["fc_y_scale"]


def qmlp(i):
    cur = fill(16 * 512).reshape(16, 512)
    for n in range(2):
        p = f"l{n}_"
        q, s, z = dynamic_quantize(cur)
        acc = (q - z) @ i[p + "w"].astype(np.int64)
        cur = np.maximum(acc.astype(np.float32) * (s * i[p + "w_scale"]) + i[p + "b"], 0)
    return cur


def qconv_wide(i):
    q, _, z = dynamic_quantize(fill(256 * 16 * 16).reshape(256, 16, 16))
    return mq.im2col_conv(q - z, i["w"].astype(np.int64) - 3, 1).astype(np.float64)


def main():
    d = sys.argv[1]
    for name, fn in (("qcnn", qcnn), ("qconv_wide", qconv_wide), ("qmlp", qmlp)):
        y = fn(initializers(os.path.join(d, name + ".onnx")))
        print(f"{name:<12} sum {float(np.sum(y, dtype=np.float64)):.4f} first {np.ravel(y)[:4].tolist()}")


if __name__ == "__main__":
    main()
