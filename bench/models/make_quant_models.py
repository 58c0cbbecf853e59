#!/usr/bin/python3
"""Writes quantized models for bench/models/quant_bench.sh into OUT_DIR, in
the two forms ONNX Runtime's quantization tools emit:

  qcnn.onnx  QOperator form: FP32 image [1,3,64,64] -> QuantizeLinear ->
             QLinearConv (UINT8 activations, INT8 per-channel weights, INT32
             bias) x4 with 8-bit MaxPool between -> Reshape -> QLinearMatMul
             -> DequantizeLinear -> FP32 logits [1,10].
  qmlp.onnx  dynamic form (quantize_dynamic): FP32 [16,512] ->
             DynamicQuantizeLinear -> MatMulInteger (INT8 weights) -> Cast ->
             Mul by the scales -> Add bias -> Relu, twice -> FP32 [16,256].
  qconv_wide.onnx  one ConvInteger with 256 input channels (a reduction long
             enough that the engine splits its FP32 accumulation).

Weights come from a seeded generator; the QLinear output scales are
calibrated on the input stoa-time-onnx feeds (sin(0.1 i)), so activations
use the 8-bit range. Run with Debian's python3-onnx:
  /usr/bin/python3 make_quant_models.py OUT_DIR [SEED_DIR]
With SEED_DIR, also writes small malformed variants there (fuzz seeds for
tests/fuzz/onnx_load/corpus)."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def im2col_conv(x, w, pad):
    """int64 convolution of x [C,H,W] with w [M,C,k,k], stride 1."""
    c, h, wd = x.shape
    m, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    cols = np.empty((c * k * k, oh * ow), dtype=np.int64)
    r = 0
    for ci in range(c):
        for i in range(k):
            for j in range(k):
                cols[r] = xp[ci, i:i + oh, j:j + ow].reshape(-1)
                r += 1
    return (w.reshape(m, -1).astype(np.int64) @ cols).reshape(m, oh, ow)


def qcnn(rng):
    x = np.sin(0.1 * np.arange(3 * 64 * 64, dtype=np.float32)).reshape(3, 64, 64)
    x_scale = np.float32(1 / 127)
    xq = np.clip(np.rint(x / x_scale) + 128, 0, 255).astype(np.int64)  # zp 128
    nodes = [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["q0"])]
    inits = [init("x_scale", x_scale), init("x_zp", np.uint8(128))]
    layers = [(3, 32, 3, 1, True), (32, 64, 3, 1, True), (64, 64, 3, 1, False), (64, 128, 1, 0, True)]
    cur, cur_scale, cur_zp, act = "q0", x_scale, 128, xq
    for i, (cin, cout, k, pad, pool) in enumerate(layers):
        w = rng.integers(-127, 128, size=(cout, cin, k, k)).astype(np.int8)
        w_scale = (rng.uniform(0.5, 1.5, size=cout) / (127 * np.sqrt(cin * k * k))).astype(np.float32)
        bias = rng.integers(-500, 500, size=cout).astype(np.int32)
        acc = im2col_conv(act - cur_zp, w.astype(np.int64), pad) + bias[:, None, None]
        real = acc * (cur_scale * w_scale)[:, None, None]
        y_scale = np.float32(max(real.max(), 1e-6) / 255)  # zp 0: a fused ReLU
        y = np.clip(np.rint(real / y_scale), 0, 255).astype(np.int64)
        p = f"c{i}_"
        inits += [init(p + "w", w), init(p + "w_scale", w_scale), init(p + "w_zp", np.zeros(cout, np.int8)),
                  init(p + "y_scale", y_scale), init(p + "y_zp", np.uint8(0)), init(p + "b", bias)]
        nodes.append(helper.make_node(
            "QLinearConv", [cur, "x_scale" if i == 0 else f"c{i-1}_y_scale", "x_zp" if i == 0 else f"c{i-1}_y_zp",
                            p + "w", p + "w_scale", p + "w_zp", p + "y_scale", p + "y_zp", p + "b"],
            [p + "y"], pads=[pad] * 4, kernel_shape=[k, k]))
        cur, cur_scale, cur_zp, act = p + "y", y_scale, 0, y
        if pool:
            nodes.append(helper.make_node("MaxPool", [cur], [p + "pool"], kernel_shape=[2, 2], strides=[2, 2]))
            cur = p + "pool"
            c_, h_, w_ = act.shape
            act = act.reshape(c_, h_ // 2, 2, w_ // 2, 2).max(axis=(2, 4))
    feat = act.size
    nodes.append(helper.make_node("Reshape", [cur, "flat_shape"], ["flat"]))
    inits.append(init("flat_shape", np.array([1, feat], np.int64)))
    wf = rng.integers(-127, 128, size=(feat, 10)).astype(np.int8)
    wf_scale = np.float32(1 / (127 * np.sqrt(feat)))
    acc = act.reshape(1, -1) @ wf.astype(np.int64)
    real = acc * cur_scale * wf_scale
    out_scale = np.float32(np.abs(real).max() / 100)
    inits += [init("fc_w", wf), init("fc_w_scale", wf_scale), init("fc_w_zp", np.int8(0)),
              init("fc_y_scale", out_scale), init("fc_y_zp", np.uint8(128))]
    nodes.append(helper.make_node("QLinearMatMul", ["flat", cur_scale_name(layers), "c3_y_zp", "fc_w",
                                                    "fc_w_scale", "fc_w_zp", "fc_y_scale", "fc_y_zp"], ["logits_q"]))
    nodes.append(helper.make_node("DequantizeLinear", ["logits_q", "fc_y_scale", "fc_y_zp"], ["y"]))
    graph = helper.make_graph(nodes, "qcnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def cur_scale_name(layers):
    return f"c{len(layers) - 1}_y_scale"


def qmlp(rng):
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"])]
    inits = []
    cur, cur_q = "x", ("xq", "xs", "xz")
    dims = [512, 512, 256]
    for i in range(2):
        p = f"l{i}_"
        w = rng.integers(-127, 128, size=(dims[i], dims[i + 1])).astype(np.int8)
        w_scale = np.float32(1 / (127 * np.sqrt(dims[i])))
        bias = rng.uniform(-0.1, 0.1, size=dims[i + 1]).astype(np.float32)
        inits += [init(p + "w", w), init(p + "w_scale", w_scale), init(p + "w_zp", np.int8(0)), init(p + "b", bias)]
        if i > 0:
            nodes.append(helper.make_node("DynamicQuantizeLinear", [cur], [p + "xq", p + "xs", p + "xz"]))
            cur_q = (p + "xq", p + "xs", p + "xz")
        nodes += [
            helper.make_node("MatMulInteger", [cur_q[0], p + "w", cur_q[2], p + "w_zp"], [p + "acc"]),
            helper.make_node("Cast", [p + "acc"], [p + "accf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [cur_q[1], p + "w_scale"], [p + "s"]),
            helper.make_node("Mul", [p + "accf", p + "s"], [p + "mm"]),
            helper.make_node("Add", [p + "mm", p + "b"], [p + "pre"]),
            helper.make_node("Relu", [p + "pre"], [p + "y"]),
        ]
        cur = p + "y"
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    graph = helper.make_graph(nodes, "qmlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 512])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 256])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def qconv_wide(rng):
    w = rng.integers(0, 256, size=(64, 256, 3, 3)).astype(np.uint8)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("ConvInteger", ["xq", "w", "xz", "w_zp"], ["acc"], pads=[1, 1, 1, 1]),
             helper.make_node("Cast", ["acc"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "qconv_wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 16, 16])],
                              [init("w", w), init("w_zp", np.uint8(3))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def malformed(rng):
    """Small QLinearConv models each broken in one way a loader must refuse."""
    def model(name, w_zp, w_scale, y_zp=None):
        inits = [init("xs", np.float32(0.1)), init("xz", np.uint8(0)),
                 init("w", rng.integers(-5, 5, size=(2, 1, 1, 1)).astype(np.int8)), w_scale, w_zp,
                 init("ys", np.float32(0.2)), y_zp if y_zp is not None else init("yz", np.uint8(0))]
        node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "w_scale", "w_zp", "ys", "yz"], ["y"])
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 2, 2])],
                                  [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2, 2, 2])], inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    out_of_range = helper.make_tensor("w_zp", TensorProto.INT8, [2], [0, 300])
    return {
        "qlinearconv.onnx": model("ok", init("w_zp", np.zeros(2, np.int8)), init("w_scale", np.float32([0.1, 0.2]))),
        "qlinearconv-zp-type.onnx": model("zp_type", init("w_zp", np.zeros(2, np.uint8)), init("w_scale", np.float32([0.1, 0.2]))),
        "qlinearconv-scale-int.onnx": model("scale_int", init("w_zp", np.zeros(2, np.int8)), init("w_scale", np.int64([1, 1]))),
        "qlinearconv-axis-length.onnx": model("axis_len", init("w_zp", np.zeros(3, np.int8)), init("w_scale", np.float32([0.1] * 3))),
        "qlinearconv-zp-range.onnx": model("zp_range", out_of_range, init("w_scale", np.float32([0.1, 0.2]))),
    }


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    for name, m in (("qcnn", qcnn(rng)), ("qmlp", qmlp(rng)), ("qconv_wide", qconv_wide(rng))):
        save(m, os.path.join(out, name + ".onnx"))
    if len(sys.argv) > 2:
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, m in malformed(rng).items():
            save(m, os.path.join(sys.argv[2], "seed-" + name))
    print(out)


if __name__ == "__main__":
    main()
