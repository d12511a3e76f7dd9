"""OMBRIA Sentinel-1 pairs: real pre-flood / post-flood tiles with Copernicus EMS flood masks.

Layout (``OmbriaS1/{train,test}/{BEFORE,AFTER,MASK}/S1_{before,after,mask}_NNNN.png``; see
../shared/data/ombria/README.md): 256 px, ONE polarisation (undocumented, most likely VV), 8-bit stretched
backscatter, no georeferencing. The mask is the EMS flood delineation, meant as NEW water (flooded after,
not water before), so these pairs test change detection; measured, the masks also call flooded much of the
water already visible BEFORE (see the README's OMBRIA table). The repository states no licence: use them to
develop and evaluate, not to train the shipped model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import FloodSarError
from .etci import _png

SPLITS = ("train", "test")


@dataclass(frozen=True)
class OmbriaPair:
    """The files of one pair."""

    split: str
    id: str
    before: Path
    after: Path
    mask: Path


def split_folders(folder: Path) -> list[Path]:
    """The split folders (holding BEFORE/, AFTER/, MASK/) at or below ``folder``, sorted."""
    folder = Path(folder)
    if (folder / "AFTER").is_dir():
        return [folder]
    return sorted(after.parent for after in folder.rglob("AFTER") if after.is_dir()) if folder.is_dir() else []


def pairs_in(folder: Path) -> tuple[list[OmbriaPair], list[str]]:
    """The complete pairs of one split folder (holding BEFORE/, AFTER/, MASK/), and notes on skipped ones."""
    pairs, notes = [], []
    for after in sorted((folder / "AFTER").glob("S1_after_*.png")):
        number = after.stem[len("S1_after_"):]
        pair = OmbriaPair(folder.name, number, folder / "BEFORE" / f"S1_before_{number}.png", after,
                          folder / "MASK" / f"S1_mask_{number}.png")
        missing = [p.name for p in (pair.before, pair.mask) if not p.is_file()]
        if missing:
            notes.append(f"{after.name} (missing {', '.join(missing)})")
        else:
            pairs.append(pair)
    return pairs, notes


def find_pairs(root: Path, split: str) -> tuple[list[OmbriaPair], list[str]]:
    """The complete pairs of a split under ``root`` (the folder holding OmbriaS1/), and notes on skipped ones."""
    if split not in SPLITS:
        raise FloodSarError(f"unknown OMBRIA split {split!r}; use train or test.")
    folder = Path(root) / "OmbriaS1" / split
    pairs, notes = pairs_in(folder)
    if not pairs and not notes:
        raise FloodSarError(f"{folder / 'AFTER'}: no OMBRIA pairs found (no S1_after_NNNN.png tiles); "
                            "pass the folder that holds OmbriaS1/.")
    return pairs, notes


def read_pair(pair: OmbriaPair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(before DN, after DN, mask) of a pair: uint8 [256, 256] DN (0 = no data) and int64 mask
    (1 flooded, 0 not, -1 where either date has no data)."""
    before, after = _png(pair.before), _png(pair.after)
    mask = (_png(pair.mask) > 0).astype(np.int64)
    mask[(before == 0) | (after == 0)] = -1
    return before, after, mask


class OmbriaS1:
    """OMBRIA pairs as samples ``{'before', 'after'}`` (uint8 [256, 256] DN, 0 = no data) and ``'mask'``
    (int64: 1 flooded, 0 not, -1 where either date has no data)."""

    def __init__(self, root: str | Path, split: str) -> None:
        self.pairs, self.notes = find_pairs(Path(root), split)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        before, after, mask = read_pair(self.pairs[index])
        return {"before": before, "after": after, "mask": mask}
