"""Labels of a synthetic chip: hand-quality truth and the two Sen1Floods11 weak labels.

Hand labels follow Sen1Floods11: water drawn a little generalised (no single-pixel detail), -1 where
the labeller could not see the ground in Sentinel-2 (thick cloud, dark cloud shadow, nodata). The weak
labels are computed from the generated images exactly as Sen1Floods11 made them (NDWI on S2, Otsu on
S1 VH), so their errors are the realistic ones: cloud shadow and turbid water for NDWI, dark sand,
roads, radar shadow and wind-roughened water for Otsu.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..weak_labels import ndwi_label, otsu_label
from .terrain import Scene

__all__ = ["hand_label", "ndwi_label", "otsu_label"]


def hand_label(scene: Scene, opacity: np.ndarray, shadow: np.ndarray, s2: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Int16 1/0/-1 hand-quality label of a scene, hidden (-1) where S2 shows no ground."""
    truth = (scene.water | scene.flooded_vegetation).astype(np.float32)
    generous = rng.uniform(0.3, 0.7)
    label = (ndimage.gaussian_filter(truth, 1.5) > generous).astype(np.int16)  # labeller's edge bias
    hidden = (opacity > 0.5) | (shadow > 0.6) | (s2 == 0).any(axis=0)
    label[hidden] = -1
    return label
