"""evaluate_real's pre/post-flood (``ombria``) and dry-land (``dry``) layouts and the ETCI blocks, through
``floodsar-train evaluate-real`` and the engine's ``predict``.

The OMBRIA pairs carry no licence, so none is committed: :func:`ombria_folder` writes synthetic 8-bit tiles
in OMBRIA's folder structure (a lake on both dates, a flood on the AFTER date only, the mask on the flood).
The dry-land chip is a real crop committed under tests/fixtures/real/dry (see its README).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from floodsar.engine.errors import FloodSarError
from floodsar.training.cli import main as floodsar_train
from floodsar.training.real_layouts import find_chips

LAKE = (slice(20, 80), slice(20, 120))
FLOOD = (slice(140, 230), slice(30, 220))


def _tile(rng: np.random.Generator, dark: list[tuple[slice, slice]]) -> np.ndarray:
    """256 px land (DN about 180) with water-dark (DN about 60) rectangles, DN >= 1 (0 is no data)."""
    dn = rng.normal(180, 15, (256, 256))
    for window in dark:
        dn[window] = rng.normal(60, 10, dn[window].shape)
    return np.clip(dn, 1, 255).astype(np.uint8)


@pytest.fixture
def ombria_folder(tmp_path: Path) -> Path:
    """OmbriaS1/test with pair 0001 (lake before and after, flood after, EMS-style mask 255 on the flood)
    and pair 0002 without its mask."""
    from PIL import Image

    rng = np.random.default_rng(3)
    split = tmp_path / "OmbriaS1" / "test"
    mask = np.zeros((256, 256), np.uint8)
    mask[FLOOD] = 255
    before = _tile(rng, [LAKE])
    before[:, :8] = 0  # a no-data strip in the pre-flood tile
    tiles = {"BEFORE/S1_before_0001": before, "AFTER/S1_after_0001": _tile(rng, [LAKE, FLOOD]),
             "MASK/S1_mask_0001": mask, "BEFORE/S1_before_0002": before, "AFTER/S1_after_0002": before}
    for name, array in tiles.items():
        (split / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(split / f"{name}.png")
    return tmp_path


def test_ombria_layout_scores_flood_of_post_only_water_and_change_detection(ombria_folder: Path,
                                                                            tmp_path: Path) -> None:
    scores = tmp_path / "ombria.json"
    assert floodsar_train(["evaluate-real", "--layout", "ombria", str(ombria_folder), "--json", str(scores),
                           "--quiet"]) == 0
    result = json.loads(scores.read_text())
    methods = result["methods"]
    assert result["positive_class"] == "flood" and set(methods) == {"post_only_water", "change_detection"}
    # post-only water also calls the lake flood; change detection removes it as water before the flood
    assert 0.6 < methods["post_only_water"]["water_iou"] < 0.85
    assert methods["change_detection"]["water_iou"] > 0.95
    assert methods["change_detection"]["recall"] > 0.95
    removed = result["removed_by_pre"]
    assert removed["pixels"] > 0.9 * 60 * 92 and removed["labelled_flooded_share"] < 0.01  # the lake, minus no data
    assert set(result["chips"]) == {"test_0001"} and any("S1_after_0002" in note for note in result["skipped"])
    # pixels without pre-flood data are not scored (the label is unknown where either date has none)
    counted = sum(methods["post_only_water"][k] for k in ("tp", "fp", "fn", "tn"))
    assert counted == 256 * (256 - 8)


def test_dry_layout_counts_every_pixel_as_dry(real_data: Path, tmp_path: Path) -> None:
    scores = tmp_path / "dry.json"
    assert floodsar_train(["evaluate-real", "--layout", "dry", str(real_data / "dry"), "--json", str(scores),
                           "--quiet"]) == 0
    result = json.loads(scores.read_text())
    assert result["positive_class"] == "water" and set(result["chips"]) == {"637U_59R_1_3"}
    for method in result["methods"].values():
        assert method["dry_chips"] == 1 and method["tp"] == method["fn"] == 0
        assert method["fp"] + method["tn"] == 128 * 128
        assert method["false_water_dry"] == pytest.approx(method["fp"] / (128 * 128))
    # per-chip Otsu splits dry land in two; the engine's bimodality check does not
    assert result["methods"]["chip_otsu"]["false_water_dry"] > 0.2
    assert result["methods"]["engine_otsu"]["false_water_dry"] < 0.05


def _etci(real: Path, tmp_path: Path, names: list[str]) -> Path:
    """The ETCI tiles ``names`` of one shared scene linked into ``tmp_path`` (skipped without them)."""
    scene = real.parent / "etci2021" / names[0].rsplit("_x-", 1)[0]
    if not scene.is_dir():
        pytest.skip(f"{scene} not present")
    for sub, suffix in (("vv", "_vv"), ("vh", "_vh"), ("flood_label", ""), ("water_body_label", "")):
        (tmp_path / scene.name / sub).mkdir(parents=True)
        for name in names:
            (tmp_path / scene.name / sub / f"{name}{suffix}.png").symlink_to(scene / sub / f"{name}{suffix}.png")
    return tmp_path


def test_etci_blocks_pick_tile_columns(large_real_data: Path, tmp_path: Path) -> None:
    names = [f"bangladesh_20170314t115609_x-10_y-{col}" for col in (20, 32, 35)]
    folder = _etci(large_real_data, tmp_path / "etci", names)
    for block, expected in (("all", names), ("training", names[:1]), ("validation", names[2:])):
        [chip], _ = find_chips("etci", folder, tmp_path, block)
        assert [part[0] for part in chip.parts] == expected
    with pytest.raises(FloodSarError, match="--etci-block applies to --layout etci only"):
        find_chips("dry", folder, tmp_path, "validation")
