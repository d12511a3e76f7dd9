"""Otsu thresholding of VH (or, for VV-only scenes, VV) backscatter in dB: the classical baseline for open water.

Two forms:
- :func:`otsu_water`: one threshold for one array (the paper's per-chip baseline; used
  by the training evaluation). Equal to ``skimage.filters.threshold_otsu`` (tested), but
  numpy only, so the QGIS runtime needs no scikit-image.
- :class:`TiledOtsu`: for whole scenes. VH histograms of fixed-size tiles are fed in one
  at a time (memory stays bounded); only tiles whose histogram is clearly bimodal (dark
  open water next to brighter land) contribute, and the scene threshold is Otsu's on
  their summed histogram. A tile counts as bimodal when its two Otsu classes are at least
  :data:`MIN_SEPARATION_DB` apart, the dark class is water-dark (mean at most
  :data:`MAX_WATER_MEAN_DB`) and neither class is tiny. Dry land alone is unimodal (class
  means about 3-4 dB apart on the real dry chips), so a scene without a bimodal tile falls
  back to the fixed threshold :data:`FALLBACK_THRESHOLD_DB` with a warning instead of
  splitting dry land in two. VV is about 6-8 dB brighter than VH over both water and land
  (real Sen1Floods11 chips: water median about -18 dB VV vs -25 dB VH), so a VV-only scene
  uses the limits in :data:`LIMITS_DB` shifted by :data:`VV_OFFSET_DB`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mask_encoding import DRY, NODATA, WATER

#: Bins for the tiled variant: fixed, so tile histograms can be summed.
HISTOGRAM_RANGE_DB = (-40.0, 10.0)
HISTOGRAM_BINS = 500
#: Tile side (pixels) of the bimodality check.
TILE_SIZE = 256
#: A tile needs at least this fraction of valid pixels to be checked.
MIN_VALID_FRACTION = 0.5
MIN_SEPARATION_DB = 6.0
MAX_WATER_MEAN_DB = -18.0
MIN_CLASS_FRACTION = 0.05
#: Used when no tile is bimodal: open water is darker than this in VH almost everywhere.
FALLBACK_THRESHOLD_DB = -24.0
VV_OFFSET_DB = 6.0
#: Per polarisation: (largest dark-class mean of a bimodal tile, fallback threshold) in dB.
LIMITS_DB = {"VH": (MAX_WATER_MEAN_DB, FALLBACK_THRESHOLD_DB),
             "VV": (MAX_WATER_MEAN_DB + VV_OFFSET_DB, FALLBACK_THRESHOLD_DB + VV_OFFSET_DB)}


def threshold_from_histogram(counts: np.ndarray, centres: np.ndarray) -> float:
    """Otsu's threshold (maximum between-class variance) of a histogram; pixels <= it form the dark class."""
    counts = np.asarray(counts, dtype=np.float64)
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        raise ValueError("empty histogram")
    counts, centres = counts[filled[0]:filled[-1] + 1], np.asarray(centres)[filled[0]:filled[-1] + 1]
    if counts.size == 1:
        return float(centres[0])
    weight_low = np.cumsum(counts)
    weight_high = np.cumsum(counts[::-1])[::-1]
    mean_low = np.cumsum(counts * centres) / weight_low
    mean_high = (np.cumsum((counts * centres)[::-1]) / weight_high[::-1])[::-1]
    between = weight_low[:-1] * weight_high[1:] * (mean_low[:-1] - mean_high[1:]) ** 2
    return float(centres[np.argmax(between)])


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of the finite ``values`` (histogram over their own range, as scikit-image)."""
    values = np.asarray(values).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values to threshold")
    low, high = float(values.min()), float(values.max())
    if low == high:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return threshold_from_histogram(counts, (edges[:-1] + edges[1:]) / 2)


def water_mask(vh_db: np.ndarray, valid: np.ndarray, threshold_db: float) -> np.ndarray:
    """uint8 mask: 1 water (VH <= threshold), 0 dry, 255 where not ``valid``."""
    mask = np.where(vh_db <= threshold_db, WATER, DRY).astype(np.uint8)
    mask[~valid] = NODATA
    return mask


def otsu_water(vh_db: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float]:
    """The per-chip baseline: (uint8 mask 0/1/255, threshold dB) from Otsu on the valid VH pixels."""
    valid = valid & np.isfinite(vh_db)
    if not valid.any():
        return np.full(vh_db.shape, NODATA, dtype=np.uint8), float("nan")
    threshold = otsu_threshold(vh_db[valid])
    return water_mask(vh_db, valid, threshold), threshold


_EDGES = np.linspace(*HISTOGRAM_RANGE_DB, HISTOGRAM_BINS + 1)
_CENTRES = (_EDGES[:-1] + _EDGES[1:]) / 2


def vh_histogram(vh_db: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Counts of valid VH values in the fixed bins (values outside the range go to the end bins)."""
    values = np.clip(vh_db[valid], *HISTOGRAM_RANGE_DB)
    return np.histogram(values, bins=_EDGES)[0]


def is_bimodal(counts: np.ndarray, max_water_mean_db: float = MAX_WATER_MEAN_DB) -> bool:
    """Whether a fixed-bin VH histogram clearly shows dark water next to brighter land."""
    total = counts.sum()
    if total == 0:
        return False
    threshold = threshold_from_histogram(counts, _CENTRES)
    low = _CENTRES <= threshold
    n_low, n_high = counts[low].sum(), counts[~low].sum()
    if min(n_low, n_high) < MIN_CLASS_FRACTION * total:
        return False
    mean_low = (counts[low] * _CENTRES[low]).sum() / n_low
    mean_high = (counts[~low] * _CENTRES[~low]).sum() / n_high
    return mean_high - mean_low >= MIN_SEPARATION_DB and mean_low <= max_water_mean_db


@dataclass(frozen=True)
class SceneThreshold:
    """The threshold chosen for a scene, how, and a warning when it is the fallback."""

    threshold_db: float
    bimodal_tiles: int
    checked_tiles: int
    warning: str | None


class TiledOtsu:
    """Accumulates tile histograms of one polarisation; :meth:`result` gives the scene threshold."""

    def __init__(self, polarisation: str = "VH") -> None:
        self.polarisation = polarisation
        self._max_water_mean_db, self._fallback_db = LIMITS_DB[polarisation]
        self._bimodal = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        self.bimodal_tiles = 0
        self.checked_tiles = 0
        self.valid_pixels = 0

    def add(self, vh_db: np.ndarray, valid: np.ndarray) -> None:
        """Check one tile (VH dB and validity, ideally TILE_SIZE square) and keep it if bimodal."""
        count = int(valid.sum())
        self.valid_pixels += count
        if count < MIN_VALID_FRACTION * valid.size:
            return
        self.checked_tiles += 1
        counts = vh_histogram(vh_db, valid)
        if is_bimodal(counts, self._max_water_mean_db):
            self._bimodal += counts
            self.bimodal_tiles += 1

    def result(self) -> SceneThreshold:
        """The scene threshold: Otsu on the bimodal tiles, else the fixed fallback with a warning."""
        if self.bimodal_tiles:
            threshold = threshold_from_histogram(self._bimodal, _CENTRES)
            return SceneThreshold(threshold, self.bimodal_tiles, self.checked_tiles, None)
        warning = (f"No part of the scene shows clearly bimodal {self.polarisation} backscatter "
                   f"({self.checked_tiles} tiles of {TILE_SIZE} px checked), so Otsu cannot find a water threshold; "
                   f"used the fixed {self._fallback_db:g} dB instead. The scene probably has little open water.")
        return SceneThreshold(self._fallback_db, 0, self.checked_tiles, warning)
