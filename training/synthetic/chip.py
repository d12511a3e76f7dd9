"""One synthetic paired Sentinel-1 / Sentinel-2 chip with its labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import labels, optical, sar, terrain


@dataclass
class GeneratedChip:
    """Images and labels of one chip, in Sen1Floods11 dtypes."""

    event: str
    s1: np.ndarray  # float32 [2, H, W] VV, VH dB, NaN nodata
    s2: np.ndarray  # int16 [13, H, W] L1C x10000, 0 nodata
    label: np.ndarray  # int16 hand-quality label 1/0/-1
    permanent: np.ndarray  # int16 permanent water 1/0 (JRC-like)
    scenario: str


def make_chip(rng: np.random.Generator, size: int, event: str | None = None) -> GeneratedChip:
    """Draw a chip for ``event`` (random event when None)."""
    event = event or str(rng.choice(terrain.EVENTS))
    scene = terrain.make_scene(rng, size, event)
    s1 = sar.backscatter(scene, rng)
    opacity, shadow = optical.clouds(rng, (size, size))
    s2 = optical.reflectance(scene, rng, (opacity, shadow))
    label = labels.hand_label(scene, opacity, shadow, s2, rng)
    return GeneratedChip(event, s1, s2, label, scene.permanent.astype(np.int16), scene.scenario)
