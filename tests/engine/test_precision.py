"""--precision: which bundled model runs. On a CPU the int8 twin by default; fp32 on request; errors for
combinations that cannot work. Real bundled models on a real chip."""
from __future__ import annotations

import numpy as np
import pytest

from floodsar.engine.choices import Precision
from floodsar.engine.cli import main
from floodsar.engine.errors import OptionError
from floodsar.engine.models import DEFAULT_MODEL, bundled_model, int8_twin, load_model, resolve_model_path
from floodsar.engine.pipeline import predict
from floodsar.engine.request import PredictionRequest
from helpers.rasters import read_band


def test_the_cpu_gets_the_int8_model_unless_fp32_or_torch_is_asked_for():
    assert bundled_model() == bundled_model(precision=Precision.INT8) == int8_twin(DEFAULT_MODEL)  # no GPU here
    assert bundled_model(precision=Precision.FP32) == DEFAULT_MODEL
    assert resolve_model_path(None, "torch") == DEFAULT_MODEL.with_suffix(".pt2")


@pytest.mark.parametrize("changes, words", [
    ({"model": "mine.onnx"}, "precision int8 picks the bundled int8 model; give your own int8 model with model"),
    ({"backend": "torch"}, "the int8 model runs in ONNX Runtime only; use backend onnx or precision fp32"),
    ({"precision": "int4"}, "unknown precision 'int4'"),
])
def test_combinations_that_cannot_work_are_refused(changes, words, tmp_path):
    with pytest.raises(OptionError, match=words):
        PredictionRequest(["in.tif"], tmp_path / "m.tif", **{"precision": "int8", **changes})


def test_int8_and_fp32_map_the_same_water_on_a_real_chip(chips, tmp_path):
    int8 = predict(PredictionRequest([chips["spain"]], tmp_path / "int8.tif"))
    fp32 = predict(PredictionRequest([chips["spain"]], tmp_path / "fp32.tif", precision="fp32"))
    assert "(floodsar_s1_int8.onnx)" in int8.backend and "(floodsar_s1.onnx)" in fp32.backend
    a, b = read_band(int8.output) == 1, read_band(fp32.output) == 1
    assert a.any() and (a & b).sum() / (a | b).sum() > 0.85  # 0.90 here: they differ where p is near 0.5


def test_the_command_line_takes_precision(capsys, chips, tmp_path):
    code = main(["predict", str(chips["spain"]), "-o", str(tmp_path / "m.tif"), "--precision", "fp32"])
    assert code == 0 and "(floodsar_s1.onnx)" in capsys.readouterr().out
    code = main(["predict", str(chips["spain"]), "-o", str(tmp_path / "n.tif"), "--precision", "int8",
                 "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 1 and "--precision int8" not in err and "--backend onnx or --precision fp32" in err
    assert err.count("\n") == 1


def test_the_bundled_files_run_on_the_same_tiles():
    """fp32, int8 and the .pt2 twin carry one tile size and overlap (1,024 px and 32 px, both chosen on the ETCI
    training block)."""
    tiling = {(m.metadata.tile_size, m.metadata.overlap)
              for m in (load_model(None, "onnx", "cpu", precision="fp32"), load_model(None, "onnx", "cpu"),
                        load_model(None, "torch", "cpu"))}
    assert tiling == {(1024, 32)}
