"""Generate a whole synthetic Sen1Floods11-layout dataset, deterministically for a seed.

    floodsar-train synthetic --out DIR --hand N --weak N --additional N [--size 512] [--seed S]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..sen1floods11 import SPLIT_NAMES
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
    if index < len(SPLIT_NAMES):
        return SPLIT_NAMES[index]
    return SPLIT_NAMES[rng.choice(len(SPLIT_NAMES), p=SPLIT_WEIGHTS)]


def generate(root: Path, hand: int, weak: int, additional: int, size: int = 512, seed: int = 0,
             progress: bool = True) -> dict[str, list[str]]:
    """Write ``hand`` + ``weak`` + ``additional`` chips under ``root``; returns the hand splits."""
    from tqdm import tqdm

    root = Path(root)
    taken: set[str] = set()
    splits: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
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


def _at_least(smallest: int):
    """An argparse type: a whole number no smaller than ``smallest``."""
    def parse(value: str) -> int:
        number = int(value)
        if number < smallest:
            raise argparse.ArgumentTypeError(f"must be {smallest} or more, not {number}")
        return number
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    count = _at_least(0)
    parser.add_argument("--out", required=True, help="dataset root to write (v1.1/... and additional/...)")
    parser.add_argument("--hand", type=count, default=16, help="hand-labelled chips (split over train/valid/test/bolivia)")
    parser.add_argument("--weak", type=count, default=0, help="weakly labelled chips (S1Weak + NDWI and Otsu labels)")
    parser.add_argument("--additional", type=count, default=0, help="unlabelled paired S1/S2 chips")
    parser.add_argument("--size", type=_at_least(16), default=512, help="chip side in pixels (512 as Sen1Floods11)")
    parser.add_argument("--seed", type=int, default=0)


def command(args: argparse.Namespace) -> int:
    """``floodsar-train synthetic``: write the chips and say how many went where."""
    splits = generate(args.out, args.hand, args.weak, args.additional, args.size, args.seed, not args.quiet)
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(f"wrote {args.hand} hand ({counts}), {args.weak} weak, {args.additional} additional chips to {args.out}")
    return 0
