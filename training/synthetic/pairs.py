"""Pre-flood / post-flood pairs of one synthetic landscape, for testing change detection.

The pre-flood scene is the post-flood one before the water rose: same terrain, land cover and
permanent water (rivers, lakes), no flood and no flooded vegetation. Each date gets its own
acquisition (incidence, calibration, wind, speckle), as two real Sentinel-1 passes do.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout, sar, terrain


@dataclass
class FloodPair:
    """Pre- and post-flood backscatter (float32 [2, H, W] VV, VH dB) with the truth."""

    pre: np.ndarray
    post: np.ndarray
    permanent: np.ndarray  # bool: water before the flood (the reference water)
    flood: np.ndarray  # bool: new open water after the flood (flooded vegetation is not open water)


def make_pair(rng: np.random.Generator, size: int, event: str = "Nigeria", scenario: str = "flood") -> FloodPair:
    """Draw one landscape and image it before and after the flood."""
    scene = terrain.make_scene(rng, size, event, scenario)
    before = dataclasses.replace(scene, water=scene.permanent.copy(),
                                 flooded_vegetation=np.zeros_like(scene.flooded_vegetation))
    flood = scene.water & ~scene.permanent
    return FloodPair(sar.backscatter(before, rng), sar.backscatter(scene, rng), scene.permanent, flood)


def write_pair(folder: Path, pair: FloodPair, origin: tuple[float, float] = (6.5, 7.8)) -> tuple[Path, Path, Path]:
    """(pre.tif, post.tif, permanent.tif) on the EPSG:4326 chip grid of :mod:`.layout`."""
    paths = folder / "pre_20200801.tif", folder / "post_20200915.tif", folder / "permanent.tif"
    for path, image in zip(paths[:2], (pair.pre, pair.post)):
        layout.write_geotiff(path, image, origin, nodata=float("nan"), descriptions=("VV", "VH"))
    layout.write_geotiff(paths[2], pair.permanent.astype(np.uint8), origin)
    return paths
