#!/usr/bin/python3
"""Writes onnx_load seeds that reach the control-flow and recurrent code:
an If whose branches read outer values, a Loop with a scan output, an LSTM,
a GRU, a cubic Resize (seed-*.onnx in ./corpus). Needs Debian's
python3-onnx: /usr/bin/python3 tests/fuzz/onnx_load/make_control_seeds.py"""
import pathlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent / "corpus"
F = TensorProto.FLOAT


def vi(name, dims, t=F):
    return helper.make_tensor_value_info(name, t, dims)


def model(nodes, inputs, outputs, inits=(), opset=14):
    g = helper.make_graph(nodes, "seed", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def seeds():
    then_g = helper.make_graph([helper.make_node("Add", ["x", "k"], ["t"])], "then", [],
                               [vi("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", [2])])
    yield "if", model([helper.make_node("If", ["c"], ["y"], then_branch=then_g,
                                        else_branch=else_g)],
                      [vi("c", [], TensorProto.BOOL), vi("x", [2])], [vi("y", [2])],
                      [numpy_helper.from_array(np.array([1, 2], np.float32), "k")])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c2"]), helper.make_node("Add", ["s", "x"], ["s2"]),
         helper.make_node("Identity", ["s2"], ["scan"])], "body",
        [vi("i", [], TensorProto.INT64), vi("c", [], TensorProto.BOOL), vi("s", [1])],
        [vi("c2", [], TensorProto.BOOL), vi("s2", [1]), vi("scan", [1])])
    yield "loop", model([helper.make_node("Loop", ["m", "", "x"], ["y", "all"], body=body)],
                        [vi("m", [], TensorProto.INT64), vi("x", [1])],
                        [vi("y", [1]), vi("all", [None, 1])])
    for op, gates in (("LSTM", 4), ("GRU", 3)):
        w = numpy_helper.from_array(np.full((1, gates * 2, 3), 0.1, np.float32), "w")
        r = numpy_helper.from_array(np.full((1, gates * 2, 2), 0.2, np.float32), "r")
        yield op.lower(), model([helper.make_node(op, ["x", "w", "r"], ["y", "h"], hidden_size=2)],
                                [vi("x", [4, 1, 3])], [vi("y", [4, 1, 1, 2]), vi("h", [1, 1, 2])],
                                [w, r])
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    yield "resize-cubic", model(
        [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic", exclude_outside=1)],
        [vi("x", [1, 1, 3, 3])], [vi("y", [1, 1, 6, 6])], [scales])


if __name__ == "__main__":
    for name, data in seeds():
        (HERE / f"seed-{name}.onnx").write_bytes(data)
        print(f"seed-{name}.onnx", len(data))
