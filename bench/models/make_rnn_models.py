#!/usr/bin/python3
"""Writes recurrent-layer models for bench/models/rnn_bench.sh into OUT_DIR:
lstm_<dir>_s<seq>_b<batch>_i<input>_h<hidden>.onnx and gru_... (opset 14,
weights from a seeded generator, scaled so the gates stay in range). Run with
Debian's python3-onnx: /usr/bin/python3 make_rnn_models.py OUT_DIR."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

CASES = [
    # op, direction, seq, batch, input, hidden
    ("LSTM", "forward", 100, 1, 64, 128),
    ("LSTM", "bidirectional", 100, 1, 64, 128),
    ("LSTM", "forward", 50, 16, 128, 256),
    ("GRU", "forward", 100, 1, 64, 128),
    ("GRU", "bidirectional", 50, 16, 128, 256),
]


def model(op, direction, seq, batch, inp, hidden, rng):
    gates = 4 if op == "LSTM" else 3
    dirs = 2 if direction == "bidirectional" else 1
    scale = 1.0 / np.sqrt(hidden)
    w = (rng.standard_normal((dirs, gates * hidden, inp)) * scale).astype(np.float32)
    r = (rng.standard_normal((dirs, gates * hidden, hidden)) * scale).astype(np.float32)
    b = (rng.standard_normal((dirs, 2 * gates * hidden)) * 0.1).astype(np.float32)
    outputs = ["y", "y_h"] + (["y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, ["x", "w", "r", "b"], outputs, hidden_size=hidden,
                            direction=direction)
    graph = helper.make_graph(
        [node], f"{op.lower()}_bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r"),
         numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    for op, direction, seq, batch, inp, hidden in CASES:
        name = f"{op.lower()}_{direction[:3]}_s{seq}_b{batch}_i{inp}_h{hidden}.onnx"
        m = model(op, direction, seq, batch, inp, hidden, rng)
        m.ir_version = 8
        save(m, os.path.join(out, name))
        print(name)


if __name__ == "__main__":
    main()
