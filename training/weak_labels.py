"""Weak water labels: NDWI on Sentinel-2 (with cloud / nodata masking) and Otsu on Sentinel-1 VH.

Labels are int16: 1 water, 0 not water, -1 unknown (cloud, cloud edge, nodata), as in Sen1Floods11.
Used by the synthetic generator and by the training datasets for the "additional" paired S1/S2 set.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..engine.otsu import otsu_water
from ..engine.mask_encoding import NODATA

# Band positions in a Sen1Floods11 S2 chip (B1, B2, B3, B4, B5, B6, B7, B8, B8A, B9, B10, B11, B12).
B2, B3, B8, B10 = 1, 2, 7, 10

NDWI_THRESHOLD = 0.0
CLOUD_BLUE = 2500  # L1C B2 x10000 brighter than this is cloud (sand and towns stay below)
CIRRUS = 60  # L1C B10 x10000 above this is cirrus (clear sky is ~10)
CLOUD_BUFFER_PX = 5


def ndwi(s2: np.ndarray) -> np.ndarray:
    """McFeeters NDWI (green - NIR) / (green + NIR) of a [13, H, W] S2 chip; NaN where undefined."""
    green = s2[B3].astype(np.float32)
    nir = s2[B8].astype(np.float32)
    total = green + nir
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (green - nir) / total, np.nan).astype(np.float32)


def s2_unusable(s2: np.ndarray, buffer_px: int = CLOUD_BUFFER_PX) -> np.ndarray:
    """Bool mask of nodata (any band 0) and cloud (bright blue or cirrus), grown by ``buffer_px``."""
    nodata = (s2 == 0).any(axis=0)
    cloud = (s2[B2] > CLOUD_BLUE) | (s2[B10] > CIRRUS)
    if buffer_px > 0 and cloud.any():
        cloud = ndimage.binary_dilation(cloud, iterations=buffer_px)
    return nodata | cloud


def ndwi_label(s2: np.ndarray, threshold: float = NDWI_THRESHOLD,
               buffer_px: int = CLOUD_BUFFER_PX) -> np.ndarray:
    """Int16 1/0/-1 water label from NDWI > ``threshold``, -1 where clouds or nodata hide the ground."""
    label = (ndwi(s2) > threshold).astype(np.int16)
    label[s2_unusable(s2, buffer_px)] = -1
    return label


def otsu_label(s1: np.ndarray) -> np.ndarray:
    """Int16 1/0/-1 water label by the engine's Otsu threshold on VH (band 2 of a [2, H, W] dB chip).

    Sen1Floods11's S1OtsuLabel* layers threshold VH the same way; -1 where VH is NaN.
    """
    mask, _ = otsu_water(s1[1], np.isfinite(s1[1]))
    label = mask.astype(np.int16)
    label[mask == NODATA] = -1
    return label
