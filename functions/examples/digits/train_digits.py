#!/usr/bin/python3
"""Trains the digits example model and writes it as ONNX.

Run with Debian's interpreter (it has numpy, sklearn 1.2 and onnx 1.12):
    /usr/bin/python3 functions/examples/digits/train_digits.py [--out-dir DIR]

Writes DIR/digits.onnx and DIR/test_split.csv (DIR defaults to this
script's directory) and prints the held-out accuracy, computed with numpy by
running the same math as the ONNX graph. Fails (exit 1) below 97 %.
Deterministic: fixed seeds for the split and the training.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0
HIDDEN = 128
MIN_ACCURACY = 0.97


def build_graph(coefs, intercepts):
    """pixels [N,64] raw 0..16 -> Gemm(alpha=1/16) -> Relu -> Gemm -> Softmax."""
    w1, w2 = (c.astype(np.float32) for c in coefs)
    b1, b2 = (b.astype(np.float32) for b in intercepts)
    inits = [
        numpy_helper.from_array(w1, "fc1.weight"),
        numpy_helper.from_array(b1, "fc1.bias"),
        numpy_helper.from_array(w2, "fc2.weight"),
        numpy_helper.from_array(b2, "fc2.bias"),
    ]
    nodes = [
        # alpha scales A·B, so this is (pixels / 16) · W1 + b1: the scaling
        # the model was trained with lives in the graph.
        helper.make_node("Gemm", ["pixels", "fc1.weight", "fc1.bias"], ["fc1"],
                         name="fc1", alpha=1.0 / 16.0),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        helper.make_node("Gemm", ["relu1", "fc2.weight", "fc2.bias"], ["logits"],
                         name="fc2"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax",
                         axis=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="stoa-train-digits",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = ("MLP 64-%d-10 on sklearn's digits; input raw pixels 0..16, "
                        "output class probabilities" % HIDDEN)
    onnx.checker.check_model(model)
    return model


def run_graph_numpy(model, pixels):
    """The graph's math, from the stored initializers (not sklearn)."""
    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    x = pixels.astype(np.float32)
    h = np.maximum((x @ w["fc1.weight"]) * np.float32(1.0 / 16.0) + w["fc1.bias"], 0)
    logits = h @ w["fc2.weight"] + w["fc2.bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    digits = load_digits()
    x = digits.data.astype(np.int64)  # 1797 x 64, integers 0..16
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=SEED)

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu",
                        solver="adam", alpha=1e-2, max_iter=1000,
                        random_state=SEED)
    clf.fit(x_train / 16.0, y_train)

    model = build_graph(clf.coefs_, clf.intercepts_)
    probs = run_graph_numpy(model, x_test)
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    sk_accuracy = float(clf.score(x_test / 16.0, y_test))

    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, "digits.onnx")
    onnx.save(model, onnx_path)
    csv_path = os.path.join(args.out_dir, "test_split.csv")
    with open(csv_path, "w") as f:
        f.write(",".join(["p%d" % i for i in range(64)] + ["label"]) + "\n")
        for row, label in zip(x_test, y_test):
            f.write(",".join(str(int(v)) for v in row) + ",%d\n" % label)

    print("train %d, test %d images" % (len(y_train), len(y_test)))
    print("wrote %s (%d bytes), %s" % (onnx_path, os.path.getsize(onnx_path), csv_path))
    print("held-out accuracy (graph math, numpy): %.4f" % accuracy)
    print("held-out accuracy (sklearn predict):   %.4f" % sk_accuracy)
    if accuracy < MIN_ACCURACY:
        print("accuracy below %.2f" % MIN_ACCURACY, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
