"""Terrain where flood water cannot stand: height above nearest drainage (HAND) and slope.

Defaults, as the operational services use them:
- HAND above :data:`HAND_MAX_M` (15 m: ASF HydroSAR and OPERA DSWx-S1 use 15 m; Copernicus GFM
  excludes high HAND too): a pixel that far above the nearest stream does not flood from it.
- Slope above :data:`SLOPE_MAX_DEG` (5 degrees: UN-SPIDER's recommended practice for Sentinel-1
  flood mapping masks slopes over 5 degrees): open water lies flat; steep dark pixels are radar
  shadow or look-alikes.
Slope comes from a DEM in metres on the post-flood grid, by central differences (one pixel of
margin on every side), with the pixel spacing in ground metres whatever the CRS (a geographic
CRS is converted per row with the length of a degree at that latitude).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import OptionError
from .grid import METRES_PER_DEGREE, RasterGrid
from .tiling import Window

HAND_MAX_M = 15.0
SLOPE_MAX_DEG = 5.0
#: Pixels of context slope needs around a window.
SLOPE_MARGIN = 1


def pixel_spacing_m(grid: RasterGrid, window: Window) -> tuple[np.ndarray, float]:
    """(x spacing per row [h] in metres, y spacing in metres) of a window of a north-up grid."""
    x0, dx, _, y0, _, dy = grid.transform
    metres_per_unit = grid.metres_per_unit
    if grid.geographic:
        lat = y0 + (window.row + np.arange(window.height) + 0.5) * dy
        per_degree = METRES_PER_DEGREE
        return abs(dx) * per_degree * np.cos(np.radians(np.clip(lat, -89.9, 89.9))), abs(dy) * per_degree
    if not metres_per_unit:
        raise OptionError("dem", None, "the post-flood image's CRS has unknown units, so slope cannot be computed "
                          "in degrees", "reproject the image to a projected CRS or leave out {dem}")
    return np.full(window.height, abs(dx) * metres_per_unit), abs(dy) * metres_per_unit


def slope_degrees(dem: np.ndarray, grid: RasterGrid, window: Window) -> np.ndarray:
    """Slope in degrees [h, w] of ``window`` from a DEM block [h + 2, w + 2] read with one pixel of margin.

    NaN where the DEM has no data at the pixel or a neighbour.
    """
    x_m, y_m = pixel_spacing_m(grid, window)
    dz_dx = (dem[1:-1, 2:] - dem[1:-1, :-2]) / (2 * x_m[:, None])
    dz_dy = (dem[2:, 1:-1] - dem[:-2, 1:-1]) / (2 * y_m)
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))


def check_thresholds(hand_max_m: float, slope_max_deg: float) -> None:
    """Refuse thresholds that cannot be meant."""
    if not (hand_max_m > 0 and math.isfinite(hand_max_m)):
        raise OptionError("hand_max_m", hand_max_m, f"{{hand_max_m}} must be a positive height in metres, "
                          f"not {hand_max_m}")
    if not 0 < slope_max_deg < 90:
        raise OptionError("slope_max_deg", slope_max_deg, f"{{slope_max_deg}} must be between 0 and 90 degrees, "
                          f"not {slope_max_deg}")
