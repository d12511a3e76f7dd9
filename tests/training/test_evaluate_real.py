"""The real-chip evaluation: chip discovery, Otsu rows, the bundled model's scores, bad folders."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from floodsar.training.cli import main as floodsar_train
from floodsar.training.evaluate_real import chip_otsu, engine_method, find_chips, markdown, run

DRY_CHIPS = {"Ghana_53713", "awc00"}


def test_finds_both_datasets_with_their_layouts(large_real_data: Path) -> None:
    chips = {chip.name: chip for chip in find_chips(large_real_data)}
    assert {"Spain_7370579", "India_900498", "Ghana_53713", "awc00", "jja10", "pxs10", "qxb32"} <= set(chips)
    assert len(chips["Spain_7370579"].inputs) == 1
    assert [p.name for p in chips["jja10"].inputs] == ["jja10_vv.tif", "jja10_vh.tif"]


def test_otsu_rows_and_skipped_chips(real_data: Path) -> None:
    methods = {"engine Otsu": engine_method("otsu"), "per-chip Otsu": chip_otsu}
    results, skipped = run(methods, find_chips(real_data), progress=False)
    assert any(s.startswith("Paraguay_34417") for s in skipped)  # S1 all NaN
    assert any(s.startswith("Ghana_83483") for s in skipped)  # label all -1
    false_water = {name: {r.name: r.false_water for r in rows if r.name in DRY_CHIPS}
                   for name, rows in results.items()}
    assert set(false_water["engine Otsu"]) == {"Ghana_53713"}  # the committed dry chip
    # the bimodality check keeps dry land dry; a plain threshold always finds "water"
    assert max(false_water["engine Otsu"].values()) < 0.01
    assert min(false_water["per-chip Otsu"].values()) > 0.2
    table = markdown(results, skipped)
    assert "| engine Otsu |" in table and "| Spain_7370579 | Sen1Floods11 |" in table


def test_bundled_model_beats_otsu_on_real_chips(large_real_data: Path, tmp_path: Path) -> None:
    scores = tmp_path / "scores.json"
    assert floodsar_train(["evaluate-real", "--real", str(large_real_data), "--json", str(scores)]) == 0
    result = json.loads(scores.read_text())
    model, otsu = result["methods"]["model"], result["methods"]["engine_otsu"]
    assert model["water_iou"] > otsu["water_iou"]
    assert model["false_water_dry"] < 0.01
    for name in DRY_CHIPS:
        assert result["chips"][name]["model"]["false_water"] < 0.01


def test_pt2_model_runs_on_pytorch_and_scores_like_the_onnx_one(real_data: Path, repo_root: Path) -> None:
    chips = [c for c in find_chips(real_data) if c.name in ("Spain_7370579", "India_900498")]
    models = repo_root / "resources" / "models"
    results, _ = run({"onnx": engine_method("model", models / "floodsar_s1.onnx"),
                      "torch": engine_method("model", models / "floodsar_s1.pt2")}, chips, progress=False)
    assert len(results["onnx"]) == len(results["torch"]) == 2
    for onnx, torch in zip(results["onnx"], results["torch"]):
        assert abs(onnx.scores.iou - torch.scores.iou) < 0.005


def test_corrupt_model_is_one_clear_line(real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    assert floodsar_train(["evaluate-real", "--real", str(real_data), "--model", str(model)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "broken.onnx" in err and "\n" not in err


def test_folder_without_chips_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert floodsar_train(["evaluate-real", "--real", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--real" in err and "\n" not in err
