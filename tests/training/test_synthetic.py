"""The synthetic Sen1Floods11-layout generator: determinism, file formats like the real chips, labels."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio

from floodsar.training.cli import main as floodsar_train
from floodsar.training.synthetic import terrain
from floodsar.training.synthetic.chip import make_chip

HAND = Path("v1.1/data/flood_events/HandLabeled")
WEAK = Path("v1.1/data/flood_events/WeaklyLabeled")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    assert floodsar_train(["synthetic", "--out", str(root), "--hand", "6", "--weak", "2", "--additional", "2",
                     "--size", "64", "--seed", "3", "--quiet"]) == 0
    return root


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    common = ["--hand", "6", "--weak", "2", "--additional", "2", "--size", "64", "--quiet"]
    assert floodsar_train(["synthetic", "--out", str(again), "--seed", "3", *common]) == 0
    assert floodsar_train(["synthetic", "--out", str(other), "--seed", "4", *common]) == 0
    assert _digest(again) == _digest(dataset)
    assert _digest(other) != _digest(dataset)


def test_layout_names_and_counts(dataset):
    s1 = sorted((dataset / HAND / "S1Hand").glob("*_S1Hand.tif"))
    assert len(s1) == 6
    for p in s1:
        name = p.name[: -len("_S1Hand.tif")]
        event, number = name.rsplit("_", 1)
        assert event in terrain.EVENTS and number.isdigit()
        for folder in ("S2Hand", "LabelHand", "JRCWaterHand"):
            assert (dataset / HAND / folder / f"{name}_{folder}.tif").is_file()
    weak = sorted((dataset / WEAK / "S1Weak").glob("*_S1Weak.tif"))
    assert len(weak) == 2
    for p in weak:
        name = p.name[: -len("_S1Weak.tif")]
        for folder in ("S2IndexLabelWeak", "S1OtsuLabelWeak"):
            assert (dataset / WEAK / folder / f"{name}_{folder}.tif").is_file()
    s1_add = sorted((dataset / "additional" / "S1").glob("*_S1.tif"))
    assert [p.name[:-7] for p in s1_add] == [p.name[:-7] for p in sorted((dataset / "additional" / "S2").glob("*_S2.tif"))]
    assert len(s1_add) == 2


def test_split_csvs_are_crlf_without_header_like_the_official_ones(dataset, real_data):
    folder = dataset / "v1.1/splits/flood_handlabeled"
    listed = []
    for split in ("train", "valid", "test", "bolivia"):
        raw = (folder / f"flood_{split}_data.csv").read_bytes()
        official = (real_data / "sen1floods11/splits" / f"flood_{split}_data.csv").read_bytes()
        assert raw.endswith(b"\r\n") and official.endswith(b"\r\n")
        assert raw.count(b"\n") == raw.count(b"\r\n")
        for line in raw.decode().splitlines():
            s1, label = line.split(",")
            assert s1.endswith("_S1Hand.tif") and label == s1.replace("_S1Hand", "_LabelHand")
            assert (dataset / HAND / "S1Hand" / s1).is_file()
            listed.append(s1)
        if split == "bolivia":
            assert all(n.startswith("Bolivia_") for n in raw.decode().split())
    assert sorted(listed) == sorted(p.name for p in (dataset / HAND / "S1Hand").glob("*.tif"))


def _profile(path: Path) -> tuple:
    with rasterio.open(path) as src:
        nodata = "nan" if src.nodata is not None and np.isnan(src.nodata) else src.nodata
        return src.count, src.dtypes[0], nodata, src.crs.to_epsg(), round(src.res[0], 12), src.descriptions


@pytest.mark.parametrize("folder, real_name", [("S1Hand", "Spain_7370579_S1Hand.tif"),
                                               ("S2Hand", "India_900498_S2Hand.tif"),
                                               ("LabelHand", "Spain_7370579_LabelHand.tif")])
def test_file_format_matches_the_real_chip(dataset, real_data, folder, real_name):
    generated = next((dataset / HAND / folder).glob("*.tif"))
    assert _profile(generated) == _profile(real_data / "sen1floods11" / folder / real_name)


def test_values_in_range_and_labels_consistent(dataset):
    for s1_path in (dataset / HAND / "S1Hand").glob("*.tif"):
        name = s1_path.name[: -len("_S1Hand.tif")]
        with rasterio.open(s1_path) as src:
            s1 = src.read()
        with rasterio.open(dataset / HAND / "S2Hand" / f"{name}_S2Hand.tif") as src:
            s2 = src.read()
        with rasterio.open(dataset / HAND / "LabelHand" / f"{name}_LabelHand.tif") as src:
            label = src.read(1)
        finite = s1[np.isfinite(s1)]
        assert finite.size and -50 < finite.min() and finite.max() < 25
        assert set(np.unique(label)) <= {-1, 0, 1}
        assert (s2 >= 0).all() and (label[(s2 == 0).any(axis=0)] == -1).all()


def test_chip_physics_water_darker_and_look_alikes_present():
    rng = np.random.default_rng(11)
    dark_dry = 0
    for _ in range(8):
        chip = make_chip(rng, 128)
        valid = np.isfinite(chip.s1).all(axis=0)
        water, dry = valid & (chip.label == 1), valid & (chip.label == 0)
        if water.sum() > 200 and dry.sum() > 200:
            assert np.median(chip.s1[1][water]) < np.median(chip.s1[1][dry]) - 3  # VH separates water
        dark_dry += int((chip.s1[1][dry] < -24).sum())
    assert dark_dry > 0  # sand, roads, shadow: dry land as dark as water exists


def test_scenarios_include_dry_and_mostly_water_chips():
    rng = np.random.default_rng(0)
    dry = terrain.make_scene(rng, 96, "Ghana", "dry")
    wet = terrain.make_scene(rng, 96, "Bolivia", "inundated")
    assert not (dry.water | dry.flooded_vegetation).any()
    assert (wet.water | wet.flooded_vegetation).mean() > 0.5


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        floodsar_train(["synthetic", "--out", str(tmp_path), "--hand", "-1"])
