"""The two-class head rewrite: softmax(l)[1] -> sigmoid(l1 - l0) inside the classifier, same probabilities."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from floodsar.engine.errors import FloodSarError
from floodsar.engine.models import DEFAULT_MODEL
from floodsar.training.graph import probabilities, rewrite_file, sigmoid_head


def softmax_head_model() -> onnx.ModelProto:
    """input [N,2,H,W] -> 1x1 Conv to 2 classes at half size (stride 2) -> Resize x2 -> Softmax -> Slice(1:2)."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.normal(size=(2, 2, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=2).astype(np.float32), "b"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             *(numpy_helper.from_array(np.array([v], np.int64), name)
               for name, v in (("start", 1), ("end", 2), ("axis", 1)))]
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["logits"], strides=[2, 2]),
             helper.make_node("Resize", ["logits", "", "scales"], ["up"], mode="linear"),
             helper.make_node("Cast", ["up"], ["upf"], to=TensorProto.FLOAT),
             helper.make_node("Softmax", ["upf"], ["soft"], axis=1),
             helper.make_node("Slice", ["soft", "start", "end", "axis"], ["water_probability"])]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                            ["N", 2, "H", "W"])],
                              [helper.make_tensor_value_info("water_probability", TensorProto.FLOAT,
                                                             ["N", 1, "H", "W"])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_rewritten_head_gives_the_same_probabilities_with_one_channel_and_no_softmax():
    model = softmax_head_model()
    batch = np.random.default_rng(2).normal(size=(3, 2, 32, 48)).astype(np.float32) * 3
    before = probabilities(model, batch)
    assert sigmoid_head(model)
    onnx.checker.check_model(model)
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Conv", "Resize", "Cast", "Sigmoid"]
    assert numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "w")).shape == (1, 2, 1, 1)
    assert {i.name for i in model.graph.initializer} == {"w", "b", "scales"}  # the slice's constants are gone
    np.testing.assert_allclose(probabilities(model, batch), before, atol=1e-6)
    assert not sigmoid_head(model)  # nothing left to rewrite


def test_bundled_model_has_the_sigmoid_head_and_a_second_rewrite_is_refused(tmp_path):
    assert "Softmax" not in {node.op_type for node in onnx.load(str(DEFAULT_MODEL)).graph.node}
    with pytest.raises(FloodSarError, match="no two-class softmax head"):
        rewrite_file(DEFAULT_MODEL, tmp_path / "again.onnx")
    assert not (tmp_path / "again.onnx").exists()
