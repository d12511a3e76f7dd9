"""Per-scene input statistics: the bounded sample the engine reads, and the robust location/scale of it.

A model whose metadata says ``normalisation = "scene"`` sees each band as
``(dB - scene median) / scene robust spread``. That input does not change when a band's values are
shifted or stretched (a calibration offset, an 8-bit stretch of unknown gain), which is what differs
between real Sentinel-1 sources. The statistics come from a bounded grid of windows spread over the
WHOLE raster being mapped (the same windows the engine samples for units detection), so a 40,000 px
scene costs as little as a 512 px chip. Training computes them with :func:`of_array` on the same
windows, so training and inference cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .tiling import spread_windows

#: (windows per side, window side in px) tried in turn until the sample holds MIN_SAMPLE valid pixels: a
#: sparse raster (a few tiles in a large empty frame) gets the denser grid. Each grid reads at most 262,144 px.
SAMPLE_GRIDS = ((8, 64), (32, 16))
MIN_SAMPLE = 1024
#: Robust standard deviation = interquartile range / IQR_TO_STD (exact for a normal distribution).
IQR_TO_STD = 1.349
#: Floor of the spread (dB): a constant band must not blow the input up.
MIN_SCALE_DB = 0.5


def sample(read: Callable[[int, int, int, int], np.ndarray], height: int, width: int) -> np.ndarray:
    """Valid values [bands, N] read window by window (``read(row, col, height, width)`` returns the valid
    pixels of a window as [bands, n]) from the first grid of :data:`SAMPLE_GRIDS` that gives enough."""
    for windows, size in SAMPLE_GRIDS:
        values = np.concatenate([read(w.row, w.col, w.height, w.width)
                                 for w in spread_windows(height, width, windows, size)], axis=1)
        if values.shape[1] >= MIN_SAMPLE:
            break
    return values


@dataclass(frozen=True)
class SceneStatistics:
    """Per-band median and robust standard deviation (dB) of a scene's valid pixels."""

    location: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def from_values(cls, values: np.ndarray) -> "SceneStatistics":
        """Statistics of sampled valid values, float [bands, N] (N > 0)."""
        if values.ndim != 2 or values.shape[1] == 0:
            raise ValueError("scene statistics need at least one valid pixel per band")
        q25, q50, q75 = np.percentile(values, [25, 50, 75], axis=1)
        scale = np.maximum((q75 - q25) / IQR_TO_STD, MIN_SCALE_DB)
        return cls(tuple(float(v) for v in q50), tuple(float(v) for v in scale))

    @classmethod
    def of_array(cls, db: np.ndarray, valid: np.ndarray) -> "SceneStatistics":
        """Statistics of an in-memory [bands, H, W] raster from the same windows the engine samples."""
        def read(row: int, col: int, height: int, width: int) -> np.ndarray:
            return db[:, row:row + height, col:col + width][:, valid[row:row + height, col:col + width]]

        return cls.from_values(sample(read, *valid.shape))

    def select(self, bands: list[int]) -> "SceneStatistics":
        """The statistics of some bands, in the given order."""
        return SceneStatistics(tuple(self.location[b] for b in bands), tuple(self.scale[b] for b in bands))
