#!/usr/bin/python3
"""Writes a detector-sized ONNX model (issue 12's transport case): input
'image' FP32 [1,3,320,320] -> Conv 3->1, 3x3, pad 1 -> Sigmoid -> 'map'
FP32 [1,1,320,320]. Needs Debian's python3-onnx (/usr/bin/python3).
  make_detector_model.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(12)
weights = numpy_helper.from_array(rng.standard_normal((1, 3, 3, 3)).astype(np.float32) * 0.2, "w")
bias = numpy_helper.from_array(np.array([0.1], dtype=np.float32), "b")
graph = helper.make_graph(
    [helper.make_node("Conv", ["image", "w", "b"], ["logits"], pads=[1, 1, 1, 1],
                      kernel_shape=[3, 3]),
     helper.make_node("Sigmoid", ["logits"], ["map"])],
    "detector_sized",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 320, 320])],
    [helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, 1, 320, 320])],
    [weights, bias])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
