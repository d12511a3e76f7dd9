"""ETCI 2021 and OMBRIA readers on the real files, and evaluate_real's folder layouts."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from floodsar.engine.metadata import ModelMetadata
from floodsar.training import etci
from floodsar.training.cli import main as floodsar_train
from floodsar.training.ombria import OmbriaS1

BANGLADESH = "bangladesh_20170314t115609"


def shared(name: str) -> Path:
    """A dataset folder beside the real-data folder; the test is skipped where the shared data is absent."""
    real = Path(os.environ.get("FLOODSAR_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "real"))
    folder = real.parent / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


def test_etci_tiles_positions_nodata_and_water() -> None:
    tiles, notes = etci.find_tiles(shared("etci2021"))
    assert len(tiles) == 1455 and not notes
    edge = next(t for t in tiles if t.name == f"{BANGLADESH}_x-39_y-7")
    assert (edge.row, edge.col) == (39, 7)
    dn, valid = etci.read_dn(edge)
    label = etci.read_label(edge, valid)
    assert 0.5 < (~valid).mean() < 0.8  # outside the swath: 255 in both bands
    assert (dn[:, ~valid] == 255).all(axis=0).mean() > 0.95
    assert (label[~valid] == -1).all() and (label[valid] == 1).any()
    flood, water_body = (etci._png(p) > 0 for p in edge.labels)
    assert ((label == 1) == ((flood | water_body) & valid)).all()


def test_etci_tile_x_is_the_row() -> None:
    """The bottom edge of tile x-i continues into the top edge of tile x-(i+1)."""
    folder = shared("etci2021") / BANGLADESH
    tiles = {(t.row, t.col): t for t in etci.find_tiles(folder)[0]}
    vv = {key: etci.read_dn(tile)[0][0].astype(float) for key, tile in tiles.items() if 5 <= key[0] < 12 and 5 <= key[1] < 12}
    below = [np.abs(a[-1] - vv[(r + 1, c)][0]).mean() for (r, c), a in vv.items() if (r + 1, c) in vv]
    # the same pairs joined as if x were the column: the edges do not match
    beside = [np.abs(a[:, -1] - vv[(r + 1, c)][:, 0]).mean() for (r, c), a in vv.items() if (r + 1, c) in vv]
    assert len(below) > 5 and np.mean(below) < 0.5 * np.mean(beside)


def test_scene_normalised_etci_input_does_not_depend_on_the_dn_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared("etci2021") / BANGLADESH
    tiles = [t for t in etci.find_tiles(folder)[0] if t.col == 10 and t.row < 6]
    metadata = ModelMetadata(name="m", architecture="a", normalisation="scene")
    first = etci.Etci2021(tiles, metadata)[0]
    monkeypatch.setattr(etci, "DN_TO_DB", {"VV": (0.08, -22.0), "VH": (0.12, -40.0)})
    second = etci.Etci2021(tiles, metadata)[0]
    assert np.allclose(first["image"], second["image"], atol=1e-3)
    assert first["image"].shape == (2, 256, 256) and set(np.unique(first["mask"])) <= {-1, 0, 1}


def test_ombria_pairs() -> None:
    test = OmbriaS1(shared("ombria"), "test")
    assert len(test) == 70 and not test.notes
    sample = test[0]
    assert sample["before"].shape == sample["after"].shape == sample["mask"].shape == (256, 256)
    assert set(np.unique(sample["mask"])) <= {-1, 0, 1} and (sample["mask"] == 1).any()


def _etci_folder(tmp_path: Path, names: list[str]) -> Path:
    source = shared("etci2021") / BANGLADESH
    for sub, suffix in (("vv", "_vv"), ("vh", "_vh"), ("flood_label", ""), ("water_body_label", "")):
        (tmp_path / BANGLADESH / sub).mkdir(parents=True)
        for name in names:
            (tmp_path / BANGLADESH / sub / f"{name}{suffix}.png").symlink_to(source / sub / f"{name}{suffix}.png")
    return tmp_path


def test_evaluate_real_etci_layout_scores_each_tile_through_predict(tmp_path: Path) -> None:
    names = [f"{BANGLADESH}_x-{r}_y-{c}" for r, c in ((5, 20), (5, 21), (6, 20))]
    folder = _etci_folder(tmp_path / "etci", names)
    (folder / BANGLADESH / "vh" / f"{names[2]}_vh.png").unlink()  # a tile with a missing file is skipped
    scores = tmp_path / "etci.json"
    assert floodsar_train(["evaluate-real", "--layout", "etci", str(folder), "--json", str(scores), "--quiet"]) == 0
    result = json.loads(scores.read_text())
    assert set(result["methods"]) == {"model", "engine_otsu", "chip_otsu"}
    for method in result["methods"].values():
        assert {"water_iou", "precision", "recall"} <= set(method)
        assert all(0.0 <= method[k] <= 1.0 for k in ("water_iou", "precision", "recall") if method[k] is not None)
    assert set(result["chips"]) == set(names[:2])
    assert any(names[2] in note for note in result["skipped"])


def test_evaluate_real_sen1floods11_layout_skips_unusable_chips(tmp_path: Path, real_data: Path) -> None:
    scores = tmp_path / "s1f11.json"
    assert floodsar_train(["evaluate-real", "--layout", "sen1floods11", str(real_data / "sen1floods11"), "--json", str(scores), "--quiet",
                 "--no-per-chip"]) == 0
    result = json.loads(scores.read_text())
    assert {"Spain_7370579", "Ghana_53713"} <= set(result["chips"])
    assert any(s.startswith("Paraguay_34417") for s in result["skipped"])
    assert any(s.startswith("Ghana_83483") for s in result["skipped"])
    assert result["methods"]["model"]["water_iou"] > result["methods"]["engine_otsu"]["water_iou"]
