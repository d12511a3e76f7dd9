"""Sen1Floods11 datasets, torchgeo style: each sample is ``{'image', 'mask', 'valid'}``.

- ``image``: float32 [C, H, W]: VV, VH normalised exactly as the engine does
  (:meth:`floodsar.engine.metadata.ModelMetadata.normalise`), then for the teacher the 13
  Sentinel-2 bands normalised with :data:`S2_MEAN` / :data:`S2_STD` (recorded in its checkpoint).
- ``mask``: int64 labels 1 water / 0 not water / :data:`IGNORE_INDEX` (-1) unknown, or float32
  teacher probabilities (soft targets) with -1 where ignored.
- ``valid``: bool [H, W], the input has data there (invalid pixels are filled and ignored).

Sentinel-1 is read with the engine's reader (:func:`floodsar.engine.sentinel1.open_sentinel1`), so
nodata rules (NaN, flagged nodata, zero borders) are the ones used at inference.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..engine.errors import FloodSarError
from ..engine.metadata import ModelMetadata
from ..engine.sentinel1 import open_sentinel1
from ..engine.rasterio_io import RasterioIO
from . import weak_labels
from .sen1floods11 import HAND, S2_BANDS, SPLIT_NAMES, SPLITS, WEAK

log = logging.getLogger(__name__)

IGNORE_INDEX = -1
#: Sentinel-1 normalisation shared with the engine: the student's exported metadata starts from it.
S1_NORMALISATION = ModelMetadata(name="floodsar-s1", architecture="deeplabv3plus")
#: Per-band standardisation of the Sentinel-2 bands (S2_BANDS order; approximate Sen1Floods11 statistics).
S2_MEAN = (1600.0, 1400.0, 1300.0, 1250.0, 1450.0, 2100.0, 2400.0, 2300.0, 2550.0, 700.0, 40.0, 1900.0, 1200.0)
S2_STD = (700.0, 750.0, 750.0, 850.0, 800.0, 900.0, 1000.0, 1050.0, 1100.0, 450.0, 60.0, 1000.0, 850.0)
S2_CLIP = (0.0, 10000.0)


def normalisation_record() -> dict:
    """Both modalities' normalisation, as stored in checkpoints."""
    s1 = S1_NORMALISATION
    return {"s1": {"bands": list(s1.bands), "mean": list(s1.mean), "std": list(s1.std), "clip_db": list(s1.clip_db)},
            "s2": {"bands": list(S2_BANDS), "mean": list(S2_MEAN), "std": list(S2_STD), "clip": list(S2_CLIP)}}


def read_s1(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [2, H, W] VV, VH in dB with NaN where invalid, bool [H, W] valid) via the engine's reader."""
    with open_sentinel1([path], units="db", io=RasterioIO()) as source:
        return source.read_db(0, 0, source.grid.height, source.grid.width)


def s1_input(db: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Model input from VV, VH dB: invalid pixels filled with the mean, then the engine's normalise."""
    mean = np.asarray(S1_NORMALISATION.mean, np.float32)[:, None, None]
    return S1_NORMALISATION.normalise(np.where(valid, db, mean))


def read_raster(path: Path) -> np.ndarray:
    """All bands of a raster as [bands, H, W] (engine reader: clear error for a missing or bad file)."""
    with RasterioIO().open_raster(path) as raster:
        return raster.read_window(list(range(1, raster.count + 1)), 0, 0, raster.grid.height, raster.grid.width)


def s2_input(s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normalised float32 [13, H, W] with nodata set to 0, bool valid) of a Sentinel-2 chip."""
    if s2.shape[0] != len(S2_BANDS):
        raise ValueError(f"expected {len(S2_BANDS)} Sentinel-2 bands, got {s2.shape[0]}")
    valid = ~(s2 == 0).any(axis=0)
    mean = np.asarray(S2_MEAN, np.float32)[:, None, None]
    std = np.asarray(S2_STD, np.float32)[:, None, None]
    image = (np.clip(s2.astype(np.float32), *S2_CLIP) - mean) / std
    image[:, ~valid] = 0.0
    return image.astype(np.float32), valid


@dataclass(frozen=True)
class Chip:
    """The files of one chip: Sentinel-1, optional Sentinel-2, optional label (or teacher probability)."""

    name: str
    s1: Path
    s2: Optional[Path] = None
    label: Optional[Path] = None


Transform = Callable[[dict], dict]


class ChipDataset(Dataset):
    """Chips read from GeoTIFFs; subclasses say where chips are and how their mask is made."""

    def __init__(self, chips: Sequence[Chip], inputs: str = "s1", transform: Optional[Transform] = None) -> None:
        if inputs not in ("s1", "s1s2"):
            raise ValueError(f"inputs must be 's1' or 's1s2', not {inputs!r}")
        if inputs == "s1s2" and any(c.s2 is None for c in chips):
            raise ValueError("inputs 's1s2' needs a Sentinel-2 file for every chip")
        self.chips = list(chips)
        self.inputs = inputs
        self.transform = transform

    def __len__(self) -> int:
        return len(self.chips)

    def make_mask(self, chip: Chip, s2: Optional[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        """Int labels 1/0/-1 of ``chip`` (``s2``: its Sentinel-2 array when read); all -1 without a label."""
        if chip.label is None:
            return np.full(shape, IGNORE_INDEX, np.int64)
        return read_raster(chip.label)[0].astype(np.int64)

    def needs_s2(self) -> bool:
        return self.inputs == "s1s2"

    def __getitem__(self, index: int) -> dict:
        chip = self.chips[index]
        db, valid = read_s1(chip.s1)
        image = s1_input(db, valid)
        s2 = read_raster(chip.s2) if chip.s2 is not None and self.needs_s2() else None
        if self.inputs == "s1s2":
            s2_image, s2_valid = s2_input(s2)
            image = np.concatenate([image, s2_image])
            valid &= s2_valid
        mask = self.make_mask(chip, s2, valid.shape)
        if mask.shape != valid.shape:
            raise FloodSarError(f"{chip.label or chip.s1}: label is {mask.shape[1]}x{mask.shape[0]} pixels but the "
                                f"image is {valid.shape[1]}x{valid.shape[0]}; the chip's files do not match.")
        mask[~valid] = IGNORE_INDEX
        sample = {"image": torch.from_numpy(image), "mask": torch.from_numpy(mask),
                  "valid": torch.from_numpy(valid)}
        return self.transform(sample) if self.transform else sample


def read_split(path: Path) -> list[tuple[str, str]]:
    """(S1 file, label file) pairs of an official split CSV: CRLF or LF, no header, blank lines skipped."""
    if not path.is_file():
        raise FloodSarError(f"{path}: split file not found; --data must be the folder that contains v1.1/ "
                            "(Sen1Floods11 as published, with v1.1/splits/flood_handlabeled/).")
    text = path.read_bytes().decode("utf-8-sig")
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")]
        if not any(fields):
            continue
        if len(fields) < 2 or not fields[0].lower().endswith(".tif"):
            if number == 1:  # tolerate a header line
                continue
            raise FloodSarError(f"{path}: line {number} is not 'S1 file,label file' ({line.strip()!r}); "
                                "restore the official split file.")
        pairs.append((fields[0], fields[1]))
    return pairs


def _report_missing(missing: list[Path], what: str, fix: str, allow_missing: bool) -> None:
    if not missing:
        return
    message = (f"{missing[0]}: missing, with {len(missing) - 1} more file(s) of {what}; {fix}")
    if not allow_missing:
        raise FloodSarError(message)
    log.warning("skipped %d chip(s) with missing files (first: %s)", len(missing), missing[0])


class Sen1Floods11Hand(ChipDataset):
    """Hand-labelled chips of one official split (train, valid, test, bolivia): S1Hand, S2Hand, LabelHand."""

    def __init__(self, root: str | Path, split: str, inputs: str = "s1", transform: Optional[Transform] = None,
                 allow_missing: bool = False) -> None:
        if split not in SPLIT_NAMES:
            raise FloodSarError(f"unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}.")
        root = Path(root)
        csv = root / SPLITS / f"flood_{split}_data.csv"
        folder = root / HAND
        chips, missing = [], []
        for s1_name, label_name in read_split(csv):
            name = s1_name.rsplit("_S1Hand", 1)[0]
            chip = Chip(name, folder / "S1Hand" / s1_name, folder / "S2Hand" / f"{name}_S2Hand.tif",
                        folder / "LabelHand" / label_name)
            needed = [chip.s1, chip.label] + ([chip.s2] if inputs == "s1s2" else [])
            absent = [p for p in needed if not p.is_file()]
            missing += absent
            if not absent:
                chips.append(chip)
        _report_missing(missing, f"the {split} split listed in {csv}",
                        f"download the complete Sen1Floods11 v1.1 into {root} or fix --data.", allow_missing)
        super().__init__(chips, inputs, transform)
        self.split = split


class Sen1Floods11Weak(ChipDataset):
    """Weakly labelled chips: S1Weak with S2IndexLabelWeak (NDWI) or S1OtsuLabelWeak labels (S1 input only)."""

    LABEL_FOLDERS = {"s2index": "S2IndexLabelWeak", "s1otsu": "S1OtsuLabelWeak"}

    def __init__(self, root: str | Path, label: str = "s2index", transform: Optional[Transform] = None) -> None:
        if label not in self.LABEL_FOLDERS:
            raise FloodSarError(f"unknown weak label {label!r}; use s2index or s1otsu.")
        folder = Path(root) / WEAK
        label_folder = self.LABEL_FOLDERS[label]
        s1_files = sorted((folder / "S1Weak").glob("*_S1Weak.tif"))
        if not s1_files:
            raise FloodSarError(f"{folder / 'S1Weak'}: no *_S1Weak.tif chips found; download Sen1Floods11's "
                                "WeaklyLabeled folder or fix --data.")
        chips = [Chip(p.name[:-len("_S1Weak.tif")], p) for p in s1_files]
        chips = [dataclasses.replace(c, label=folder / label_folder / f"{c.name}_{label_folder}.tif") for c in chips]
        _report_missing([c.label for c in chips if not c.label.is_file()], f"{label_folder} labels",
                        "every S1Weak chip needs its label file; restore the WeaklyLabeled folder.", False)
        super().__init__(chips, "s1", transform)


def paired_chips(folder: Path) -> list[Chip]:
    """Chips of a paired folder: ``S1/<chip>_S1.tif`` with ``S2/<chip>_S2.tif``."""
    s1_files = sorted((folder / "S1").glob("*_S1.tif"))
    if not s1_files:
        raise FloodSarError(f"{folder / 'S1'}: no *_S1.tif chips found; a paired folder holds S1/<chip>_S1.tif "
                            "and S2/<chip>_S2.tif.")
    chips = [Chip(p.name[:-len("_S1.tif")], p, folder / "S2" / f"{p.name[:-len('_S1.tif')]}_S2.tif")
             for p in s1_files]
    _report_missing([c.s2 for c in chips if not c.s2.is_file()], f"Sentinel-2 chips in {folder / 'S2'}",
                    "every S1 chip needs its S2 twin.", False)
    return chips


class PairedNdwi(ChipDataset):
    """The "additional" paired S1/S2 chips, weakly labelled by NDWI on Sentinel-2 (clouds, nodata -> -1)."""

    def __init__(self, folder: str | Path, inputs: str = "s1", transform: Optional[Transform] = None) -> None:
        super().__init__(paired_chips(Path(folder)), inputs, transform)

    def needs_s2(self) -> bool:
        return True

    def make_mask(self, chip: Chip, s2: Optional[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        return weak_labels.ndwi_label(s2).astype(np.int64)


def additional_folder(root: str | Path, folder: str) -> Path:
    """A paired folder given in a config: absolute, or relative to the data root."""
    path = Path(folder)
    return path if path.is_absolute() else Path(root) / path


class RandomCropFlip:
    """Random square crop (whole sample when smaller) and random flips / 90-degree rotations."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, sample: dict) -> dict:
        height, width = sample["mask"].shape
        size_h, size_w = min(self.size, height), min(self.size, width)
        top = int(torch.randint(0, height - size_h + 1, ()))
        left = int(torch.randint(0, width - size_w + 1, ()))
        out = {}
        flip_h, flip_v, rotate = (bool(x) for x in torch.randint(0, 2, (3,)))
        for key, value in sample.items():
            value = value[..., top:top + size_h, left:left + size_w]
            if flip_h:
                value = value.flip(-1)
            if flip_v:
                value = value.flip(-2)
            if rotate and size_h == size_w:
                value = value.rot90(1, (-2, -1))
            out[key] = value.contiguous()
        return out

