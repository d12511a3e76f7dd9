"""Stage 2a of cross-modal distillation: the S1+S2 teacher labels paired S1/S2 chips.

The teacher's water probability is written per chip as ``<out>/<chip>_Pseudo.tif`` (float32, the
S1 chip's grid, NaN where the input has no data). The student turns it into targets at training
time (:func:`to_target`: hard class or soft probability, pixels below a confidence ignored), so
these settings can change without labelling again.

    floodsar-train pseudo-label --teacher runs/teacher/seed0/best.pt \
        --folder DATA/additional --out runs/pseudo/additional
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..engine.errors import FloodSarError
from ..engine.safe_write import atomic_output
from .checkpoint import load_checkpoint
from .datasets import IGNORE_INDEX, Chip, ChipDataset, paired_chips, read_raster
from .devices import pick_device
from .network import water_probability
from .sen1floods11 import S2_BANDS

SUFFIX = "_Pseudo.tif"
DONE = "pseudo_labels.json"


def to_target(probability: np.ndarray, targets: str = "hard", confidence: float = 0.0) -> np.ndarray:
    """Student targets from teacher water probability: int64 1/0/-1 (hard) or float32 p/-1 (soft).

    Pixels without a probability (NaN) or where ``max(p, 1 - p) < confidence`` become -1 (ignored).
    """
    unknown = ~np.isfinite(probability)
    sure = np.maximum(np.nan_to_num(probability), 1 - np.nan_to_num(probability))
    unknown |= sure < confidence
    if targets == "hard":
        target = (np.nan_to_num(probability) >= 0.5).astype(np.int64)
    elif targets == "soft":
        target = np.nan_to_num(probability).astype(np.float32)
    else:
        raise ValueError(f"targets must be 'hard' or 'soft', not {targets!r}")
    target[unknown] = IGNORE_INDEX
    return target


class PseudoLabelled(ChipDataset):
    """S1 chips of a paired folder with the teacher's labels as targets (the student's second source)."""

    def __init__(self, folder: str | Path, labels: str | Path, targets: str = "hard", confidence: float = 0.0,
                 transform=None) -> None:
        labels = Path(labels)
        chips = [Chip(c.name, c.s1, label=labels / f"{c.name}{SUFFIX}") for c in paired_chips(Path(folder))]
        missing = [c.label for c in chips if not c.label.is_file()]
        if missing:
            raise FloodSarError(f"{missing[0]}: teacher label missing ({len(missing)} in all); run "
                                "floodsar-train pseudo-label for this folder first.")
        super().__init__(chips, "s1", transform)
        self.targets, self.confidence = targets, confidence

    def make_mask(self, chip: Chip, s2: Optional[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        return to_target(read_raster(chip.label)[0], self.targets, self.confidence)


def _write_probability(path: Path, like: Path, probability: np.ndarray) -> None:
    """Float32 GeoTIFF on the grid of ``like``, written beside and renamed."""
    import rasterio

    with rasterio.open(like) as src:
        profile = {**src.profile, "count": 1, "dtype": "float32", "nodata": float("nan"), "compress": "deflate"}
    with atomic_output(path) as tmp:
        with rasterio.open(tmp, "w", **{**profile, "driver": "GTiff"}) as dst:
            dst.write(probability.astype(np.float32), 1)


def label_folder(teacher: str | Path, folder: str | Path, out: str | Path, device: str = "auto",
                 progress: bool = True) -> int:
    """Write the teacher's water probability for every chip of paired ``folder`` into ``out``; returns the count.

    Skips the work when ``out`` already holds labels of the same teacher checkpoint for the same chips.
    """
    from tqdm import tqdm


    teacher, folder, out = Path(teacher), Path(folder), Path(out)
    chips = paired_chips(folder)
    stamp = {"teacher": str(teacher.resolve()), "teacher_mtime": teacher.stat().st_mtime if teacher.exists() else 0,
             "chips": len(chips), "folder": str(folder.resolve())}
    done = out / DONE
    if done.is_file() and json.loads(done.read_text()) == stamp:
        return len(chips)
    model, config, _ = load_checkpoint(teacher)
    if config.in_channels != 2 + len(S2_BANDS):
        raise FloodSarError(f"{teacher}: is not a Sentinel-1 + Sentinel-2 teacher ({config.in_channels} input "
                            f"bands, expected {2 + len(S2_BANDS)}); pass the checkpoint of the teacher stage.")
    model.to(pick_device(device)).eval()
    dataset = ChipDataset(chips, "s1s2")
    out.mkdir(parents=True, exist_ok=True)
    for index in tqdm(range(len(dataset)), desc=f"teacher labels {folder.name}", unit="chip", disable=not progress):
        sample = dataset[index]
        with torch.no_grad():
            image = sample["image"][None].to(next(model.parameters()).device)
            probability = water_probability(model, image)[0].cpu().numpy()
        probability[~sample["valid"].numpy()] = np.nan
        _write_probability(out / f"{chips[index].name}{SUFFIX}", chips[index].s1, probability)
    with atomic_output(done) as tmp:
        tmp.write_text(json.dumps(stamp))
    return len(chips)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True, type=Path, help="teacher checkpoint (S1+S2)")
    parser.add_argument("--folder", required=True, type=Path, help="paired folder: S1/<chip>_S1.tif, S2/<chip>_S2.tif")
    parser.add_argument("--out", required=True, type=Path, help="folder for <chip>_Pseudo.tif")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train pseudo-label``: label paired S1/S2 chips with the cross-modal teacher."""
    count = label_folder(args.teacher, args.folder, args.out, args.device, progress=not args.quiet)
    print(f"teacher labels of {count} chips in {args.out}")
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.pseudo_label ...
    from .cli import main

    sys.exit(main(["pseudo-label", *sys.argv[1:]]))
