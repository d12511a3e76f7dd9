"""Dataset parsing on the real Sen1Floods11 chips (CRLF splits, -1 labels, S2 nodata) and on generated chips."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from floodsar.engine.errors import FloodSarError
from floodsar.training import weak_labels
from floodsar.training.datasets import (IGNORE_INDEX, S1_NORMALISATION, PairedNdwi, RandomCropFlip,
                                        Sen1Floods11Hand, Sen1Floods11Weak, read_s1, read_split)
from floodsar.training.sen1floods11 import HAND, SPLITS

REAL_CHIPS = ("Spain_7370579", "India_900498", "Ghana_83483", "Paraguay_34417")


@pytest.fixture(scope="module")
def real_root(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real chips in the v1.1 layout, with a test split CSV made of the official CRLF lines for them."""
    root = tmp_path_factory.mktemp("real_v11")
    source = real_data / "sen1floods11"
    for folder in ("S1Hand", "LabelHand", "S2Hand"):
        (root / HAND / folder).mkdir(parents=True)
        for path in (source / folder).glob("*.tif"):
            (root / HAND / folder / path.name).symlink_to(path)
    official = (source / "splits" / "flood_test_data.csv").read_bytes().split(b"\r\n")
    kept = [line for line in official if line.split(b"_S1Hand")[0].decode() in REAL_CHIPS]
    assert len(kept) == len(REAL_CHIPS)
    (root / SPLITS).mkdir(parents=True)
    (root / SPLITS / "flood_test_data.csv").write_bytes(b"".join(line + b"\r\n" for line in kept))
    return root


def test_official_split_files_parse(real_data: Path) -> None:
    splits = real_data / "sen1floods11" / "splits"
    counts = {name: len(read_split(splits / f"flood_{name}_data.csv")) for name in ("train", "valid", "test", "bolivia")}
    assert counts == {"train": 252, "valid": 89, "test": 90, "bolivia": 15}
    for s1_name, label_name in read_split(splits / "flood_test_data.csv"):
        assert s1_name.endswith("_S1Hand.tif") and label_name.endswith("_LabelHand.tif")
        assert s1_name.replace("S1Hand", "LabelHand") == label_name


def test_split_parsing_tolerates_lf_blank_lines_and_header(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    path.write_bytes(b"\xef\xbb\xbfs1,label\n\nA_1_S1Hand.tif, A_1_LabelHand.tif\r\n\r\nB_2_S1Hand.tif,B_2_LabelHand.tif")
    assert read_split(path) == [("A_1_S1Hand.tif", "A_1_LabelHand.tif"), ("B_2_S1Hand.tif", "B_2_LabelHand.tif")]
    path.write_text("A_1_S1Hand.tif,A_1_LabelHand.tif\nnonsense\n")
    with pytest.raises(FloodSarError, match="line 2"):
        read_split(path)


def test_real_chips_give_normalised_images_and_ignore_labels(real_root: Path) -> None:
    dataset = Sen1Floods11Hand(real_root, "test")
    assert [c.name for c in dataset.chips] == _official_order(real_root)
    by_name = {c.name: dataset[i] for i, c in enumerate(dataset.chips)}
    spain = by_name["Spain_7370579"]
    assert spain["image"].shape == (2, 512, 512) and spain["image"].dtype == torch.float32
    db, valid = read_s1(real_root / HAND / "S1Hand" / "Spain_7370579_S1Hand.tif")
    expected = S1_NORMALISATION.normalise(db)
    assert np.allclose(spain["image"].numpy()[:, valid], expected[:, valid])
    label = rasterio.open(real_root / HAND / "LabelHand" / "Spain_7370579_LabelHand.tif").read(1)
    assert np.array_equal(spain["mask"].numpy(), label)  # 0/1 kept, its 99 pixels of -1 stay ignored
    assert (spain["mask"] == IGNORE_INDEX).sum() == 99
    assert (by_name["Ghana_83483"]["mask"] == IGNORE_INDEX).all()  # label entirely -1
    paraguay = by_name["Paraguay_34417"]  # S1 entirely NaN: labelled water is ignored, input filled
    assert (paraguay["mask"] == IGNORE_INDEX).all() and not paraguay["valid"].any()
    assert torch.isfinite(paraguay["image"]).all() and (paraguay["image"] == 0).all()


def _official_order(root: Path) -> list[str]:
    return [s1.split("_S1Hand")[0] for s1, _ in read_split(root / SPLITS / "flood_test_data.csv")]


def test_teacher_inputs_mask_sentinel2_nodata(real_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(real_root, root, symlinks=True)
    s2_path = root / HAND / "S2Hand" / "India_900498_S2Hand.tif"
    with rasterio.open(s2_path) as src:
        profile, s2 = src.profile, src.read()
    s2[:, :100, :50] = 0  # a nodata corner
    s2_path.unlink()
    with rasterio.open(s2_path, "w", **profile) as dst:
        dst.write(s2)
    csv = root / SPLITS / "flood_test_data.csv"
    csv.write_bytes(b"India_900498_S1Hand.tif,India_900498_LabelHand.tif\r\n")
    sample = Sen1Floods11Hand(root, "test", inputs="s1s2")[0]
    assert sample["image"].shape == (15, 256, 256)
    assert (sample["mask"][:100, :50] == IGNORE_INDEX).all() and not sample["valid"][:100, :50].any()
    assert (sample["image"][2:, :100, :50] == 0).all()
    assert (sample["mask"][100:, 50:] != IGNORE_INDEX).any()


def test_missing_files_are_reported_clearly(real_root: Path, real_data: Path, tmp_path: Path) -> None:
    official = tmp_path / "official"  # the official test split: 90 chips listed, a few of them here
    shutil.copytree(real_root, official, symlinks=True)
    (official / SPLITS / "flood_test_data.csv").write_bytes(
        (real_data / "sen1floods11" / "splits" / "flood_test_data.csv").read_bytes())
    with pytest.raises(FloodSarError, match=r"missing, with \d+ more file\(s\).*download the complete Sen1Floods11"):
        Sen1Floods11Hand(official, "test")
    present = Sen1Floods11Hand(official, "test", allow_missing=True)
    here = list((real_root / HAND / "S1Hand").glob("*_S1Hand.tif"))
    assert len(present) == len(here) >= 5  # every real chip of the official test split that is here
    with pytest.raises(FloodSarError, match="split file not found"):
        Sen1Floods11Hand(official, "valid")


def test_weak_label_choice_reads_the_chosen_files(generated_data: Path) -> None:
    ndwi, otsu = Sen1Floods11Weak(generated_data, "s2index"), Sen1Floods11Weak(generated_data, "s1otsu")
    assert len(ndwi) == 3 and ndwi.chips[0].label.parent.name == "S2IndexLabelWeak"
    assert otsu.chips[0].label.parent.name == "S1OtsuLabelWeak"
    for dataset in (ndwi, otsu):
        sample = dataset[0]
        on_disk = rasterio.open(dataset.chips[0].label).read(1)
        valid = sample["valid"].numpy()
        assert np.array_equal(sample["mask"].numpy()[valid], on_disk[valid])
    with pytest.raises(FloodSarError, match="unknown weak label"):
        Sen1Floods11Weak(generated_data, "jrc")


def test_additional_set_is_labelled_by_ndwi(generated_data: Path) -> None:
    dataset = PairedNdwi(generated_data / "additional", inputs="s1s2")
    sample = dataset[0]
    s2 = rasterio.open(dataset.chips[0].s2).read()
    expected = weak_labels.ndwi_label(s2)
    valid = sample["valid"].numpy()
    assert sample["image"].shape[0] == 15
    assert np.array_equal(sample["mask"].numpy()[valid], expected[valid])
    assert (sample["mask"].numpy()[~valid] == IGNORE_INDEX).all()
    with pytest.raises(FloodSarError, match="no \\*_S1.tif chips"):
        PairedNdwi(generated_data / "nowhere")


def test_random_crop_keeps_image_and_mask_aligned() -> None:
    torch.manual_seed(0)
    image = torch.arange(2 * 40 * 40, dtype=torch.float32).reshape(2, 40, 40)
    sample = {"image": image, "mask": image[0].long(), "valid": image[0] > 5}
    for _ in range(20):
        out = RandomCropFlip(16)(sample)
        assert out["image"].shape == (2, 16, 16) and out["mask"].shape == (16, 16)
        assert torch.equal(out["image"][0].long(), out["mask"]) and torch.equal(out["image"][0] > 5, out["valid"])
    assert RandomCropFlip(64)(sample)["image"].shape == (2, 40, 40)
