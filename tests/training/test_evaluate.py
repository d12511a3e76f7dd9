"""Evaluation numbers on hand-made cases (real GeoTIFFs in the Sen1Floods11 layout)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from floodsar.training.datasets import Sen1Floods11Hand
from floodsar.training.cli import main as floodsar_train
from floodsar.training.evaluate import Scores, confusion, evaluate, otsu_predictor
from floodsar.training.sen1floods11 import HAND
from floodsar.training.synthetic.layout import write_geotiff, write_splits


def test_confusion_counts_only_labelled_valid_pixels() -> None:
    water = np.array([[1, 1, 1, 0], [0, 0, 1, 1]], bool)
    label = np.array([[1, 1, 0, 1], [0, -1, -1, 1]])
    valid = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
    scores = confusion(water, label, valid)
    assert scores == Scores(tp=2, fp=1, fn=1, tn=1)
    assert (scores.iou, scores.precision, scores.recall) == (0.5, 2 / 3, 2 / 3)
    assert confusion(water, label) == Scores(tp=3, fp=1, fn=1, tn=1)


def test_no_water_anywhere_has_no_iou() -> None:
    scores = confusion(np.zeros((2, 2), bool), np.zeros((2, 2)))
    assert scores.tn == 4 and math.isnan(scores.iou) and math.isnan(scores.precision)
    assert (Scores(1, 0, 0, 0) + Scores(1, 3, 0, 2)).iou == pytest.approx(0.4)


@pytest.fixture
def two_chips(tmp_path: Path) -> Path:
    """Two 8x8 chips whose VH is -25 dB (water) in columns 0-3 and -10 dB elsewhere.

    A: label water in columns 0-3, S1 NaN at (0, 0)  -> Otsu: tp 31, fp 0, fn 0, tn 32 (IoU 1)
    B: label water in columns 0-1, row 0 unlabelled  -> Otsu: tp 14, fp 14, fn 0, tn 28 (IoU 0.5)
    """
    s1 = np.full((2, 8, 8), -10.0, np.float32)
    s1[:, :, :4] = -25.0
    s1_a = s1.copy()
    s1_a[:, 0, 0] = np.nan
    label_a = np.zeros((8, 8), np.int16)
    label_a[:, :4] = 1
    label_b = np.zeros((8, 8), np.int16)
    label_b[:, :2] = 1
    label_b[0] = -1
    for name, image, label in (("A_1", s1_a, label_a), ("B_2", s1, label_b)):
        write_geotiff(tmp_path / HAND / "S1Hand" / f"{name}_S1Hand.tif", image, (10.0, 40.0), nodata=float("nan"))
        write_geotiff(tmp_path / HAND / "LabelHand" / f"{name}_LabelHand.tif", label, (10.0, 40.0))
    write_splits(tmp_path, {"test": ["A_1", "B_2"]})
    return tmp_path


def test_otsu_scores_on_hand_made_chips(two_chips: Path) -> None:
    evaluation = evaluate(otsu_predictor, Sen1Floods11Hand(two_chips, "test"))
    assert evaluation.total == Scores(tp=45, fp=14, fn=0, tn=32 + 28)
    assert evaluation.total.iou == pytest.approx(45 / 59)  # all valid pixels together (the paper's metric)
    assert [(n, s.iou) for n, s in evaluation.per_chip] == [("A_1", 1.0), ("B_2", 0.5)]
    assert evaluation.mean_chip_iou == pytest.approx(0.75)


def test_command_line_writes_totals_and_per_chip_scores(two_chips: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    totals, per_chip = tmp_path / "totals.json", tmp_path / "chips.csv"
    assert floodsar_train(["evaluate", "--data", str(two_chips), "--split", "test", "--otsu", "--json", str(totals),
                 "--per-chip", str(per_chip)]) == 0
    assert "water IoU 76.27" in capsys.readouterr().out
    assert json.loads(totals.read_text())["iou"] == pytest.approx(45 / 59)
    rows = per_chip.read_text().splitlines()
    assert rows[0].startswith("chip,tp,fp,fn") and rows[2].startswith("B_2,14,14,0,")


def test_command_line_reports_bad_data_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert floodsar_train(["evaluate", "--data", str(tmp_path), "--otsu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "split file not found" in err and "Traceback" not in err


def test_onnx_model_through_the_engine_scores_like_its_checkpoint(generated_data: Path, tmp_path: Path) -> None:
    import dataclasses

    import torch

    from floodsar.training.datasets import S1_NORMALISATION
    from floodsar.training.evaluate import checkpoint_predictor, onnx_predictor
    from floodsar.training.export import export_onnx
    from floodsar.training.checkpoint import save_checkpoint
    from floodsar.training.network import ModelConfig, build_model

    torch.manual_seed(0)
    config = ModelConfig(encoder="xception_tiny", in_channels=2)
    model = build_model(config).eval()
    dataset = Sen1Floods11Hand(generated_data, "valid")
    with torch.no_grad():  # large margins (few pixels near the threshold), water on about half the pixels
        model.classifier.weight.mul_(50)
        logits = model(torch.stack([dataset[i]["image"] for i in range(len(dataset))]))
        model.classifier.bias[1] -= (logits[:, 1] - logits[:, 0]).median()
    metadata = dataclasses.replace(S1_NORMALISATION, name="test", architecture="deeplabv3plus-xception_tiny")
    save_checkpoint(tmp_path / "model.pt", model, config, metadata)
    export_onnx(model, metadata, tmp_path / "model.onnx")
    by_torch = evaluate(checkpoint_predictor(tmp_path / "model.pt", "cpu")[0], dataset).total
    by_onnx = evaluate(onnx_predictor(tmp_path / "model.onnx", "cpu"), dataset).total
    pixels = by_torch.tp + by_torch.fp + by_torch.fn + by_torch.tn
    assert 0 < by_torch.tp + by_torch.fp < pixels  # the model says water somewhere, not everywhere
    assert by_onnx.tp + by_onnx.fp + by_onnx.fn + by_onnx.tn == pixels
    assert abs(by_onnx.tp - by_torch.tp) + abs(by_onnx.fp - by_torch.fp) <= pixels // 1000
