"""ASF HyP3 RTC products (.zip or folder): ``<name>_VV.tif``, ``<name>_VH.tif``, ``<name>_ls_map.tif``
and optionally ``<name>_inc_map.tif``.

The name's processing letters (``..._RTC30_G_gpuned_...``: g gamma0 / s sigma0, then p power /
d decibel / a amplitude) say what the pixels are. The model was trained on sigma0 (Sentinel-1
GRD as Earth Engine serves it), so gamma0 is brought back to sigma0 with
sigma0 = gamma0 * cos(incidence): from ``_inc_map.tif`` (the local incidence angle, radians) when
the product has it, else at IW mid-swath (DEFAULT_INCIDENCE_DEG) with the error stated.
Layover and shadow pixels (``_ls_map.tif`` bits 4 and 16) say nothing about water: they are read as
nodata (so a water mask leaves them out) and are the product's exclusion (the flood classes' excluded class).
"""
from __future__ import annotations

import math
import re
from typing import Optional, Sequence

import numpy as np

from .. import raster_io
from ..errors import FloodSarError
from ..raster_io import RasterFile, RasterIO
from .container import Container
from .product import Product

#: ``_ls_map.tif`` bits: 4 = in an area affected by layover, 16 = in an area affected by shadow.
LAYOVER_BIT, SHADOW_BIT = 4, 16
#: Incidence angle assumed without ``_inc_map.tif``: the middle of the IW swath (29..46 degrees).
DEFAULT_INCIDENCE_DEG = 37.5
IW_INCIDENCE_RANGE_DEG = (29.0, 46.0)
_PROCESSING = re.compile(r"_RTC\d+_[A-Z]_([gs])([pda])[a-z]{4}_", re.IGNORECASE)
_SCALES = {"p": "power", "d": "decibel", "a": "amplitude"}


def read(container: Container, io: RasterIO) -> Optional[Product]:
    """A Product for a folder or zip holding a HyP3 RTC product, else None."""
    vv, vh = container.ending("_VV.tif"), container.ending("_VH.tif")
    if len(vv) != 1 or len(vh) != 1:
        return None
    base = vv[0][: -len("_VV.tif")]
    ls_map = [m for m in container.ending("_ls_map.tif") if m.startswith(base)]
    inc_map = [m for m in container.ending("_inc_map.tif") if m.startswith(base)]
    match = _PROCESSING.search(raster_io.file_name(base))
    if match is None and not ls_map:
        return None  # two rasters named _VV/_VH but not an RTC product: left to the zipped-GeoTIFF reader
    radiometry, scale = (match.group(1).lower(), _SCALES[match.group(2).lower()]) if match else ("g", "power")
    raster = Hyp3Raster([container.gdal_path(m) for m in (vv[0], vh[0])],
                        container.gdal_path(ls_map[0]) if ls_map else None,
                        container.gdal_path(inc_map[0]) if inc_map else None,
                        gamma0=radiometry == "g", scale=scale, io=io)
    return Product(kind=f"HyP3 RTC product ({container.path.name}; "
                        f"{'gamma0' if radiometry == 'g' else 'sigma0'}, {scale} scale)",
                   raster=raster, units="linear", units_reason=f"from the product name: {scale} scale",
                   steps=raster.steps(), warnings=raster.warnings(),
                   exclusion=raster.layover_or_shadow if ls_map else None)


class Hyp3Raster(RasterFile):
    """VV and VH of an RTC product as linear sigma0, layover/shadow pixels NaN."""

    def __init__(self, pol_paths: Sequence[str], ls_map: Optional[str], inc_map: Optional[str], *,
                 gamma0: bool, scale: str, io: RasterIO) -> None:
        self._files: list[RasterFile] = []
        try:
            self._pols = [self._open(p, io) for p in pol_paths]
            self._ls = self._open(ls_map, io) if ls_map else None
            self._inc = self._open(inc_map, io) if inc_map and gamma0 else None
        except BaseException:
            self.close()
            raise
        self.path = pol_paths[0]
        self.grid = self._pols[0].grid
        self.count, self.descriptions = 2, ("VV", "VH")
        self.nodata = (None, None)  # flagged values become NaN in _read, before any conversion
        self.gamma0, self.scale = gamma0, scale
        for other in self._files[1:]:
            if (other.grid.width, other.grid.height) != (self.grid.width, self.grid.height):
                raise FloodSarError(f"{other.path}: is not the size of {self.path}; the product looks damaged, "
                                    "download it again.")

    def _open(self, path: str, io: RasterIO) -> RasterFile:
        raster = io.open_raster(path)
        self._files.append(raster)
        return raster

    def steps(self) -> list[str]:
        steps = [{"power": "values used as linear power",
                  "amplitude": "amplitude squared to linear power",
                  "decibel": "dB converted to linear power"}[self.scale]]
        if self.gamma0:
            source = "the product's _inc_map.tif" if self._inc else f"{DEFAULT_INCIDENCE_DEG:g} deg (IW mid-swath)"
            steps.append(f"gamma0 converted to sigma0 (x cos(incidence), incidence from {source})")
        steps.append("layover and shadow pixels (_ls_map.tif bits 4, 16): nodata in the water mask, excluded (3) "
                     "in the flood classes" if self._ls else "no _ls_map.tif: layover and shadow not masked")
        return steps

    def warnings(self) -> list[str]:
        if not self.gamma0 or self._inc:
            return []
        low, high = (10 * math.log10(math.cos(math.radians(a)) / math.cos(math.radians(DEFAULT_INCIDENCE_DEG)))
                     for a in IW_INCIDENCE_RANGE_DEG)
        return [f"This RTC product is gamma0 without an incidence angle map (_inc_map.tif); sigma0 is estimated "
                f"at {DEFAULT_INCIDENCE_DEG:g} deg incidence, which is off by {low:+.1f} to {high:+.1f} dB across "
                "the swath. Order RTC products with 'include inc map' (or sigma0 radiometry) to avoid this."]

    def _read(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        window = (row0, col0, row1 - row0, col1 - col0)
        values = np.stack([_masked(self._pols[b - 1], window) for b in bands])
        if self.scale == "amplitude":
            values = values ** 2
        elif self.scale == "decibel":
            values = np.power(10.0, values / 10.0, dtype=np.float32)
        if self.gamma0:
            incidence = (self._inc.read_window([1], *window)[0] if self._inc
                         else np.float32(math.radians(DEFAULT_INCIDENCE_DEG)))
            values = values * np.cos(incidence)
        if self._ls is not None:
            values[:, self.layover_or_shadow(*window)] = np.nan
        return values.astype(np.float32, copy=False)

    def layover_or_shadow(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """Where ``_ls_map.tif`` flags layover or shadow in a window (bool [height, width])."""
        flags = np.nan_to_num(self._ls.read_window([1], row, col, height, width)[0]).astype(np.uint8)
        return (flags & (LAYOVER_BIT | SHADOW_BIT)) != 0

    def close(self) -> None:
        for raster in self._files:
            raster.close()


def _masked(raster: RasterFile, window: tuple[int, int, int, int]) -> np.ndarray:
    """Band 1 of a window (row, col, height, width) with the band's flagged nodata value as NaN."""
    values = raster.read_window([1], *window)[0]
    nodata = raster.nodata[0]
    if nodata is not None and np.isfinite(nodata):
        values[values == np.float32(nodata)] = np.nan
    return values
