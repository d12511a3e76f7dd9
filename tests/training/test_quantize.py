"""floodsar-train quantize: an int8 twin of a real ONNX model, calibrated on a real chip, loaded by the engine."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from floodsar.engine.errors import FloodSarError
from floodsar.engine.models import int8_twin, load_model
from floodsar.training.quantize import agreement, calibration_rasters, model_inputs, quantise
from helpers.models import model_metadata, onnx_model, save_onnx


def test_int8_twin_runs_in_the_engine_close_to_fp32(real_data, tmp_path):
    fp32 = save_onnx(onnx_model("conv3x3_1x1", model_metadata(name="conv3x3")), tmp_path / "conv3x3.onnx")
    chip = real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif"
    int8 = quantise(fp32, int8_twin(fp32), [(chip,)])
    assert int8.name == "conv3x3_int8.onnx"
    graph = onnx.load(str(int8)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    weights = {init.name: init.data_type for init in graph.initializer}
    assert weights["weight"] == onnx.TensorProto.FLOAT  # the first convolution, on the input bands, stays float32
    assert onnx.TensorProto.INT8 in weights.values()  # the second one's weights are int8
    model = load_model(int8)  # the engine's checks pass: FloodSAR metadata, input and output names
    source = load_model(fp32).metadata
    quantisation = model.metadata.provenance["quantisation"]
    assert model.metadata == type(source)(**{**source.__dict__, "provenance": model.metadata.provenance})
    assert "Spain_7370579_S1Hand.tif" in quantisation["calibration"] and quantisation["source"] == "conv3x3.onnx"
    batches = list(model_inputs([chip], source))
    assert len(batches) == 8 and batches[0].shape == (1, 2, 128, 128)  # the engine's tiles: 128 px, overlap 16
    worst, iou = agreement(fp32, int8, batches, source.threshold)
    assert worst < 0.2 and iou > 0.97  # 8-bit steps of the input and weights; masks agree


def test_default_calibration_leaves_out_the_evaluation_chips(tmp_path):
    stac = tmp_path / "stac_overflow"
    for folder, chips in (("labelled", ["awc00"]), ("unlabelled/test_features", ["awc00", "awc01"])):
        (stac / folder).mkdir(parents=True)
        for chip in chips:
            for band in ("vv", "vh"):
                (stac / folder / f"{chip}_{band}.tif").touch()
    (tmp_path / "other" / "terramind_s1rtc").mkdir(parents=True)
    (tmp_path / "other" / "terramind_s1rtc" / "tile.tif").touch()
    found = calibration_rasters(tmp_path)
    assert [tuple(p.name for p in inputs) for inputs in found] == [("awc01_vv.tif", "awc01_vh.tif"), ("tile.tif",)]
    with pytest.raises(FloodSarError, match="no calibration rasters found"):
        calibration_rasters(tmp_path / "missing")
