"""Generate a whole synthetic Sen1Floods11-layout dataset, deterministically for a seed."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from . import labels, layout, terrain
from .chip import make_chip

DRY_EVENTS = tuple(e for e in terrain.EVENTS if e != "Bolivia")
SPLIT_WEIGHTS = (0.57, 0.2, 0.2, 0.03)  # train, valid, test, bolivia (the official 252/89/90/15)


def _chip_rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, kind, index])


def _name(rng: np.random.Generator, event: str, taken: set[str]) -> str:
    number = int(rng.integers(10_000, 10_000_000))
    while f"{event}_{number}" in taken:
        number += 1
    taken.add(f"{event}_{number}")
    return f"{event}_{number}"


def _origin(rng: np.random.Generator, event: str) -> tuple[float, float]:
    lon, lat = terrain.BIOMES[event].centre + rng.uniform(-1.0, 1.0, 2)
    return float(round(lon / layout.PIXEL_DEG) * layout.PIXEL_DEG), float(round(lat / layout.PIXEL_DEG) * layout.PIXEL_DEG)


def _hand_split(rng: np.random.Generator, index: int) -> str:
    """The first four chips cover every split; later ones follow the official proportions."""
    if index < len(layout.SPLIT_NAMES):
        return layout.SPLIT_NAMES[index]
    return layout.SPLIT_NAMES[rng.choice(len(layout.SPLIT_NAMES), p=SPLIT_WEIGHTS)]


def generate(root: Path, hand: int, weak: int, additional: int, size: int = 512, seed: int = 0,
             progress: bool = True) -> dict[str, list[str]]:
    """Write ``hand`` + ``weak`` + ``additional`` chips under ``root``; returns the hand splits."""
    from tqdm import tqdm

    root = Path(root)
    taken: set[str] = set()
    splits: dict[str, list[str]] = {s: [] for s in layout.SPLIT_NAMES}
    bar = tqdm(total=hand + weak + additional, unit="chip", disable=not progress, desc="generating")
    for i in range(hand):
        rng = _chip_rng(seed, 0, i)
        split = _hand_split(rng, i)
        event = "Bolivia" if split == "bolivia" else str(rng.choice(DRY_EVENTS))
        name = _name(rng, event, taken)
        layout.write_hand(root, name, make_chip(rng, size, event), _origin(rng, event))
        splits[split].append(name)
        bar.update()
    layout.write_splits(root, splits)
    for kind, count in ((1, weak), (2, additional)):
        for i in range(count):
            rng = _chip_rng(seed, kind, i)
            event = str(rng.choice(DRY_EVENTS))
            name = _name(rng, event, taken)
            chip = make_chip(rng, size, event)
            origin = _origin(rng, event)
            if kind == 1:
                layout.write_weak(root, name, chip, origin, labels.ndwi_label(chip.s2), labels.otsu_label(chip.s1))
            else:
                layout.write_additional(root, name, chip, origin)
            bar.update()
    bar.close()
    return splits


def chip_names(paths: Iterable[Path], suffix: str) -> list[str]:
    """Chip names of files ending in ``suffix`` (e.g. "_S1Hand.tif")."""
    return sorted(p.name[: -len(suffix)] for p in paths if p.name.endswith(suffix))
