#!/usr/bin/python3
"""Trains the LeNet-like example CNN on sklearn's 8x8 digits and writes ONNX.

Run with Debian's interpreter (numpy, sklearn 1.2 and onnx 1.12; no torch):
    /usr/bin/python3 functions/examples/lenet/train_lenet.py [--out-dir DIR]

The network is trained here with plain numpy (forward and backward passes
written out below, Adam, fixed seeds), on the same 80/20 split as the
digits MLP (functions/examples/digits/test_split.csv is the held-out part).
Writes DIR/lenet.onnx and prints the held-out accuracy of the exported
graph's math (recomputed from the stored initializers). Exit 1 below 95 %.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
C1, C2, HIDDEN = 8, 16, 32
EPOCHS, BATCH, LR = 40, 32, 2e-3
MIN_ACCURACY = 0.95


# ---- layers (NCHW, float64 while training) ----

def im2col(x, k=3, pad=1):
    """x [N,C,H,W] -> cols [N*H*W, C*k*k] for a stride-1 'same' conv."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, h, w), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + h, j:j + w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h * w, c * k * k)


def col2im(dcols, shape, k=3, pad=1):
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + h, j:j + w] += d[:, :, i, j]
    return dxp[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, wgt, b):
    n, _, h, w = x.shape
    cols = im2col(x)
    out = cols @ wgt.reshape(wgt.shape[0], -1).T + b
    return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2), cols


def conv_backward(dout, cols, x_shape, wgt):
    f = wgt.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (d.T @ cols).reshape(wgt.shape)
    db = d.sum(axis=0)
    dx = col2im(d @ wgt.reshape(f, -1), x_shape)
    return dx, dw, db


def pool_forward(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2)
    out = r.max(axis=(3, 5))
    mask = r == out[:, :, :, None, :, None]
    return out, mask


def pool_backward(dout, mask):
    n, c, h2, _, w2, _ = mask.shape
    d = mask * dout[:, :, :, None, :, None]
    # Ties would route the gradient twice; normalise by the tie count.
    d = d / mask.sum(axis=(3, 5), keepdims=True)
    return d.reshape(n, c, h2 * 2, w2 * 2)


def forward(p, x):
    """x [N,1,8,8] raw 0..16. Returns logits and the cache for backward."""
    c1, cols1 = conv_forward(x / 16.0, p["w1"], p["b1"])
    r1 = np.maximum(c1, 0)
    p1, m1 = pool_forward(r1)
    c2, cols2 = conv_forward(p1, p["w2"], p["b2"])
    r2 = np.maximum(c2, 0)
    p2, m2 = pool_forward(r2)
    f = p2.reshape(len(x), -1)
    h = f @ p["w3"].T + p["b3"]
    hr = np.maximum(h, 0)
    logits = hr @ p["w4"].T + p["b4"]
    return logits, (x, c1, cols1, p1, m1, c2, cols2, p2, m2, f, h, hr)


def backward(p, cache, dlogits):
    x, c1, cols1, p1, m1, c2, cols2, p2, m2, f, h, hr = cache
    g = {"w4": dlogits.T @ hr, "b4": dlogits.sum(axis=0)}
    dh = (dlogits @ p["w4"]) * (h > 0)
    g["w3"], g["b3"] = dh.T @ f, dh.sum(axis=0)
    dp2 = (dh @ p["w3"]).reshape(p2.shape)
    dc2 = pool_backward(dp2, m2) * (c2 > 0)
    dp1, g["w2"], g["b2"] = conv_backward(dc2, cols2, p1.shape, p["w2"])
    dc1 = pool_backward(dp1, m1) * (c1 > 0)
    _, g["w1"], g["b1"] = conv_backward(dc1, cols1, x.shape, p["w1"])
    return g


def init_params(rng):
    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    return {
        "w1": he((C1, 1, 3, 3), 9), "b1": np.zeros(C1),
        "w2": he((C2, C1, 3, 3), C1 * 9), "b2": np.zeros(C2),
        "w3": he((HIDDEN, C2 * 4), C2 * 4), "b3": np.zeros(HIDDEN),
        "w4": he((10, HIDDEN), HIDDEN), "b4": np.zeros(10),
    }


def train(x, y, rng):
    p = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(val) for k, val in p.items()}
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x))
        total = 0.0
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            logits, cache = forward(p, x[idx])
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
            total += -np.log(prob[np.arange(len(idx)), y[idx]] + 1e-12).sum()
            dlogits = prob
            dlogits[np.arange(len(idx)), y[idx]] -= 1.0
            grads = backward(p, cache, dlogits / len(idx))
            step += 1
            for k in p:
                g = grads[k] + 1e-4 * p[k]
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                mh = m[k] / (1 - 0.9 ** step)
                vh = v[k] / (1 - 0.999 ** step)
                p[k] -= LR * mh / (np.sqrt(vh) + 1e-8)
        if epoch % 10 == 9:
            print("epoch %d: mean loss %.4f" % (epoch + 1, total / len(x)))
    return p


# ---- export ----

def build_model(p):
    """The ONNX graph; the 1/16 input scaling is folded into conv1's weights."""
    f32 = {k: v.astype(np.float32) for k, v in p.items()}
    inits = [
        numpy_helper.from_array(f32["w1"] / np.float32(16.0), "conv1.weight"),
        numpy_helper.from_array(f32["b1"], "conv1.bias"),
        numpy_helper.from_array(f32["w2"], "conv2.weight"),
        numpy_helper.from_array(f32["b2"], "conv2.bias"),
        numpy_helper.from_array(f32["w3"], "fc1.weight"),
        numpy_helper.from_array(f32["b3"], "fc1.bias"),
        numpy_helper.from_array(f32["w4"], "fc2.weight"),
        numpy_helper.from_array(f32["b4"], "fc2.bias"),
    ]
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    nodes = [
        helper.make_node("Conv", ["pixels", "conv1.weight", "conv1.bias"], ["c1"],
                         name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", **pool),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"],
                         name="conv2", **conv),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
        helper.make_node("Flatten", ["p2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h"], name="fc1",
                         transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu3"),
        helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["logits"], name="fc2",
                         transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_lenet",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="stoa-train-lenet",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = ("LeNet-like CNN (conv3x3x%d-pool-conv3x3x%d-pool-fc%d-fc10) on "
                        "sklearn's digits; input raw pixels 0..16 [N,1,8,8]" % (C1, C2, HIDDEN))
    onnx.checker.check_model(model)
    return model


def run_graph_numpy(model, pixels):
    """The exported graph's math in float32, from the stored initializers."""
    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    x = pixels.astype(np.float32)
    c1, _ = conv_forward(x, w["conv1.weight"], w["conv1.bias"])
    p1, _ = pool_forward(np.maximum(c1, 0))
    c2, _ = conv_forward(p1, w["conv2.weight"], w["conv2.bias"])
    p2, _ = pool_forward(np.maximum(c2, 0))
    h = np.maximum(p2.reshape(len(x), -1) @ w["fc1.weight"].T + w["fc1.bias"], 0)
    logits = h @ w["fc2.weight"].T + w["fc2.bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    digits = load_digits()
    x = digits.data.astype(np.float64)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=SEED)
    rng = np.random.default_rng(SEED)
    params = train(x_train.reshape(-1, 1, 8, 8), y_train, rng)

    model = build_model(params)
    probs = run_graph_numpy(model, x_test.reshape(-1, 1, 8, 8))
    accuracy = float((probs.argmax(axis=1) == y_test).mean())

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "lenet.onnx")
    onnx.save(model, path)
    print("train %d, test %d images" % (len(y_train), len(y_test)))
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    print("held-out accuracy (exported graph math, numpy float32): %.4f" % accuracy)
    if accuracy < MIN_ACCURACY:
        print("accuracy below %.2f" % MIN_ACCURACY, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
