"""ONNX graph rewrites that make an exported model cheaper without changing what it computes.

The export's head is ``classifier Conv (2 classes, 1/4 resolution) -> Resize -> Softmax(axis=1) -> Slice(1:2)``.
For two classes softmax(l)[1] = sigmoid(l1 - l0), and both the 1x1 classifier and the bilinear Resize are
linear, so the difference can be taken inside the classifier's weights: ``Conv (1 channel: W1 - W0, b1 - b0)
-> Resize -> Sigmoid``. Same probabilities (to float rounding), one channel resized instead of two and no
softmax across channels (which ONNX Runtime runs through transposes: about a fifth of the bundled model's
CPU time).

    python -m floodsar.training.graph MODEL.onnx [--out OTHER.onnx]    # rewrite (in place by default)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..engine.errors import FloodSarError
from ..engine.metadata import INPUT_NAME, OUTPUT_NAME
from ..engine.safe_write import atomic_output

#: Largest allowed max-abs difference between the probabilities before and after the rewrite.
TOLERANCE = 1e-5


def _producers(graph: Any) -> Dict[str, Any]:
    return {output: node for node in graph.node for output in node.output}


def sigmoid_head(model: Any) -> bool:
    """Rewrite a two-class softmax head in place (see the module docstring); False when the model has none."""
    from onnx import numpy_helper

    graph = model.graph
    producer = _producers(graph)
    head = producer.get(OUTPUT_NAME)
    softmax = producer.get(head.input[0]) if head is not None and head.op_type == "Slice" else None
    if softmax is None or softmax.op_type != "Softmax":
        return False
    chain = producer.get(softmax.input[0])
    while chain is not None and chain.op_type == "Cast":  # a float -> float cast the exporter leaves
        chain = producer.get(chain.input[0])
    classifier = producer.get(chain.input[0]) if chain is not None and chain.op_type == "Resize" else None
    initializers = {init.name: init for init in graph.initializer}
    if classifier is None or classifier.op_type != "Conv" or len(classifier.input) != 3 \
            or not all(name in initializers for name in classifier.input[1:]):
        return False
    weight, bias = (numpy_helper.to_array(initializers[name]) for name in classifier.input[1:])
    if weight.shape[0] != 2:
        return False
    for name, value in zip(classifier.input[1:], (weight[1:] - weight[:1], bias[1:] - bias[:1])):
        initializers[name].CopyFrom(numpy_helper.from_array(value.astype(weight.dtype), name))
    softmax_input = softmax.input[0]
    graph.node.remove(softmax)
    head.op_type = "Sigmoid"
    del head.input[:]
    head.input.append(softmax_input)
    _drop_unused(graph)
    return True


def _drop_unused(graph: Any) -> None:
    """Remove nodes and initializers nothing reads any more (the slice's constants)."""
    while True:
        used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
        dead = [node for node in graph.node if not any(output in used for output in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    for init in [init for init in graph.initializer if init.name not in used]:
        graph.initializer.remove(init)


def probabilities(model: Any, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]


def rewrite_file(path: Path, out: Optional[Path] = None) -> float:
    """Rewrite ``path``'s head into ``out`` (default: in place); the largest probability change, checked."""
    import onnx

    model = onnx.load(str(path))
    original = onnx.ModelProto()
    original.CopyFrom(model)
    if not sigmoid_head(model):
        raise FloodSarError(f"{path}: has no two-class softmax head to rewrite (already rewritten?).")
    onnx.checker.check_model(model)
    batch = np.random.default_rng(0).normal(size=(2, 2, 64, 96)).astype(np.float32) * 2
    difference = float(np.abs(probabilities(model, batch) - probabilities(original, batch)).max())
    if difference > TOLERANCE:
        raise FloodSarError(f"{path}: the rewritten head differs by {difference:.2e}; nothing was written.")
    with atomic_output(out or path) as tmp:
        onnx.save(model, str(tmp))
    return difference


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.graph", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, help="write here instead of rewriting the model in place")
    args = parser.parse_args(argv)
    difference = rewrite_file(args.model, args.out)
    print(f"{args.out or args.model}: softmax head rewritten as a sigmoid; max |dp| = {difference:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
