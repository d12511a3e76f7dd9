"""Small REAL models for tests: ONNX graphs built with onnx.helper, and the same models as torch
modules saved with torch.export (.pt2), each carrying FloodSAR metadata.

- ``pointwise``: water probability = sigmoid(-4 * (normalised VH + 0.5)), i.e. VH below
  about -20 dB is water. Each output pixel depends on its own input pixel only.
- ``conv3x3``: sigmoid of a 3x3 convolution (zero padding) over both bands; receptive
  field radius 1 pixel, so tiling with overlap >= 1 must give the whole-image result.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from floodsar.engine.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata, write_onnx_metadata

SLOPE, OFFSET = -4.0, 0.5
#: 3x3 kernel [out=1, in=2, 3, 3]: a smoothed, edge-sensitive VH term plus a little VV.
CONV_WEIGHTS = np.stack([
    np.array([[0.1, 0.0, -0.1], [0.2, 0.3, 0.0], [0.0, 0.1, 0.1]]),
    np.array([[0.5, 0.3, 0.2], [0.4, 1.0, 0.6], [0.1, 0.4, 0.5]]),
])[None].astype(np.float32) * SLOPE
CONV_BIAS = np.array([SLOPE * 2.0], dtype=np.float32)


def model_metadata(**changes) -> ModelMetadata:
    """Metadata of the test models: tile 128, overlap 16, stride 16 (several tiles per 512 px chip)."""
    fields = dict(name="engine-test", architecture="test", tile_size=128, overlap=16, stride=16,
                  licence="CC0", training_data="none (hand-written weights)")
    fields.update(changes)
    return ModelMetadata(**fields)


def onnx_model(kind: str, metadata: ModelMetadata | None = None, channels: int = 2):
    """An onnx.ModelProto of the given kind (metadata None = no FloodSAR metadata)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    if kind == "pointwise":
        nodes = [helper.make_node("Slice", [INPUT_NAME, "start", "end", "axis"], ["vh"]),
                 helper.make_node("Add", ["vh", "offset"], ["shifted"]),
                 helper.make_node("Mul", ["shifted", "slope"], ["logit"])]
        initializers = [numpy_helper.from_array(np.array([channels - 1], np.int64), "start"),
                        numpy_helper.from_array(np.array([channels], np.int64), "end"),
                        numpy_helper.from_array(np.array([1], np.int64), "axis"),
                        numpy_helper.from_array(np.array(OFFSET, np.float32), "offset"),
                        numpy_helper.from_array(np.array(SLOPE, np.float32), "slope")]
    elif kind in ("conv3x3", "conv3x3_1x1"):
        nodes = [helper.make_node("Conv", [INPUT_NAME, "weight", "bias"], ["logit"], name="conv3x3",
                                  pads=[1, 1, 1, 1])]
        initializers = [numpy_helper.from_array(CONV_WEIGHTS[:, :channels], "weight"),
                        numpy_helper.from_array(CONV_BIAS, "bias")]
        if kind == "conv3x3_1x1":  # the same function through a second (1x1, identity) convolution
            nodes[0].output[0] = "conv3x3"
            nodes.append(helper.make_node("Conv", ["conv3x3", "identity"], ["logit"], name="conv1x1"))
            initializers.append(numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "identity"))
    else:
        raise ValueError(kind)
    nodes.append(helper.make_node("Sigmoid", ["logit"], [OUTPUT_NAME]))
    graph = helper.make_graph(
        nodes, kind,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    if metadata is not None:
        write_onnx_metadata(model, metadata)
    return model


def save_onnx(model, path: Path) -> Path:
    from onnx import save

    save(model, str(path))
    return path


def torch_module(kind: str):
    """The torch twin of :func:`onnx_model` (same arithmetic)."""
    import torch

    class Pointwise(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid((x[:, 1:2] + OFFSET) * SLOPE)

    class Conv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 1, 3, padding=1)
            with torch.no_grad():
                self.conv.weight.copy_(torch.from_numpy(CONV_WEIGHTS))
                self.conv.bias.copy_(torch.from_numpy(CONV_BIAS))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.conv(x))

    return {"pointwise": Pointwise, "conv3x3": Conv}[kind]().eval()


def save_pt2(kind: str, path: Path, metadata: ModelMetadata | None) -> Path:
    """Export the torch twin with dynamic batch/height/width and save it as a .pt2 archive."""
    import torch
    from torch.export import Dim

    example = torch.zeros(2, 2, 32, 32)
    dynamic = {"x": {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}}
    program = torch.export.export(torch_module(kind), (example,), dynamic_shapes=dynamic)
    extra = {"floodsar.json": metadata.to_json()} if metadata is not None else None
    torch.export.save(program, str(path), extra_files=extra)
    return path
