"""A GRD SAFE product as one two-band (VV, VH) raster of linear sigma0 on a 10 m UTM grid.

Nothing is computed up front: each window read finds the radar-geometry pixels it needs
(through the geolocation grid), reads only those digital numbers with GDAL, calibrates them
and removes thermal noise (:mod:`.calibration`), and warps them onto the map grid with GDAL's
thin-plate-spline GCP transformer. Memory per read is bounded by BLOCK, whatever the product size.

This is ellipsoid geocoding: each pixel goes where the annotation's geolocation grid puts it,
at the grid's coarse terrain height. Where the real terrain differs by dh, the position is off by
about dh / tan(incidence) in range (500 m of relief at 35 degrees: about 700 m).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.interpolate import LinearNDInterpolator

from .. import raster_io
from ..errors import FloodSarError
from ..raster_io import RasterFile, RasterGrid
from . import Product
from .calibration import SIGMA0_FLOOR, sigma0
from .safe import SafeProduct

#: Output pixel size (m): the GRDH pixel spacing and the model's native resolution.
PIXEL_M = 10.0
#: Output blocks are warped at most BLOCK x BLOCK pixels at a time.
BLOCK = 1024
#: Radar-geometry pixels read around what a block needs (interpolation kernel, geolocation slack).
SOURCE_MARGIN = 16
#: Spacing (output pixels) of the points along a block's edges mapped back to radar geometry.
EDGE_STEP = 32
#: The relief example quoted to users (m, degrees).
RELIEF_M, RELIEF_INCIDENCE = 500.0, 35.0


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS 84 / UTM zone holding (lon, lat)."""
    return (32600 if lat >= 0 else 32700) + int((lon + 180.0) // 6.0) % 60 + 1


def relief_shift_m(relief_m: float, incidence_deg: float) -> float:
    """Horizontal position error of ellipsoid geocoding for a height error ``relief_m``."""
    return relief_m / math.tan(math.radians(incidence_deg))


def grd_product(product: SafeProduct, io: str) -> Product:
    raster = GrdRaster(product, io)
    gcps = product.gcps
    zone = raster.epsg % 100
    hemisphere = "N" if raster.epsg < 32700 else "S"
    steps = [
        "calibration to sigma0 with the product's calibration LUT (sigmaNought)",
        f"thermal noise removal with the product's noise LUTs (range x azimuth); values at or below zero "
        f"set to {10 * math.log10(SIGMA0_FLOOR):.0f} dB",
        f"geocoding on the ellipsoid from the geolocation grid ({len(gcps.line)} GCPs, GDAL thin-plate spline) "
        f"to WGS 84 / UTM zone {zone}{hemisphere} (EPSG:{raster.epsg}) at {PIXEL_M:g} m, bilinear resampling, "
        "window by window",
    ]
    incidence = (float(gcps.incidence.min()), float(gcps.incidence.max()))
    warning = (
        f"Ellipsoid geocoding (no DEM): pixels are placed at the geolocation grid's terrain height "
        f"({gcps.height.min():.0f} to {gcps.height.max():.0f} m here); where the real ground is dh higher or lower "
        f"they shift by about dh / tan(incidence) in range (incidence {incidence[0]:.0f} to {incidence[1]:.0f} deg "
        f"here): {RELIEF_M:.0f} m of relief at {RELIEF_INCIDENCE:.0f} deg moves a pixel about "
        f"{relief_shift_m(RELIEF_M, RELIEF_INCIDENCE):.0f} m. Fine on flood plains; in hilly terrain use an RTC "
        "product (ASF HyP3) or terrain-correct in SNAP first.")
    return Product(kind=f"Sentinel-1 {product.mode} GRD SAFE product ({product.name})", raster=raster,
                   units="linear", units_reason="calibrated sigma0 from the product's LUTs",
                   steps=steps, warnings=[warning])


class GrdRaster(RasterFile):
    """VV and VH sigma0 (linear) of a GRD product on a UTM grid, computed per window."""

    def __init__(self, product: SafeProduct, io: str) -> None:
        self._product, self._io = product, io
        self._backend = raster_io.backend(io)
        gcps = product.gcps
        self.epsg = utm_epsg(float(np.mean(gcps.lon)), float(np.mean(gcps.lat)))
        crs = self._backend.epsg_wkt(self.epsg)
        x, y = self._backend.transform_points(self._backend.epsg_wkt(4326), crs, gcps.lon, gcps.lat)
        left, top = math.floor(x.min() / PIXEL_M) * PIXEL_M, math.ceil(y.max() / PIXEL_M) * PIXEL_M
        width = math.ceil((x.max() - left) / PIXEL_M)
        height = math.ceil((top - y.min()) / PIXEL_M)
        self.grid = RasterGrid(width, height, crs, (left, PIXEL_M, 0.0, top, 0.0, -PIXEL_M))
        self._map_xy = np.column_stack([x, y])
        self._to_radar = LinearNDInterpolator(self._map_xy, np.column_stack([gcps.line, gcps.pixel]) + 0.5)
        # A geolocation grid point gives the position of the centre of sample (line, pixel): GDAL's
        # raster coordinates put that centre at (line + 0.5, pixel + 0.5).
        self._gcps = np.column_stack([gcps.line + 0.5, gcps.pixel + 0.5, gcps.lon, gcps.lat])
        self.path = product.name
        self.count, self.descriptions, self.nodata = 2, ("VV", "VH"), (None, None)
        self._pols = [product.pols["VV"], product.pols["VH"]]
        self._measurements: list[RasterFile] = []
        try:
            for pol in self._pols:
                raster = raster_io.open_raster(pol.measurement, io, require_crs=False)
                self._measurements.append(raster)
                if (raster.grid.width, raster.grid.height) != (product.width, product.height):
                    raise FloodSarError(
                        f"{pol.measurement}: is {raster.grid.width} x {raster.grid.height} pixels but its annotation "
                        f"says {product.width} x {product.height}; the product is damaged: download it again.")
        except BaseException:
            self.close()
            raise

    def _read(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        out = np.empty((len(bands), row1 - row0, col1 - col0), dtype=np.float32)
        for r in range(row0, row1, BLOCK):
            for c in range(col0, col1, BLOCK):
                r1, c1 = min(r + BLOCK, row1), min(c + BLOCK, col1)
                out[:, r - row0:r1 - row0, c - col0:c1 - col0] = self._block(bands, r, c, r1, c1)
        return out

    def _block(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        """One output block: read, calibrate and warp the radar pixels it covers."""
        x0, dx, _, y0, _, dy = self.grid.transform
        block = RasterGrid(col1 - col0, row1 - row0, self.grid.crs_wkt,
                           (x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy))
        source = self._source_window(block)
        if source is None:
            return np.full((len(bands), block.height, block.width), np.nan, dtype=np.float32)
        line0, pixel0, line1, pixel1 = source
        stack = np.stack([
            sigma0(self._measurements[b - 1]._read([1], line0, pixel0, line1, pixel1)[0], self._pols[b - 1],
                   line0, pixel0)
            for b in bands])
        shifted = self._gcps - np.array([line0, pixel0, 0.0, 0.0])
        return self._backend.warp_gcps(stack, [tuple(p) for p in shifted], block, "bilinear")

    def _source_window(self, block: RasterGrid) -> tuple[int, int, int, int] | None:
        """The radar-geometry window (line0, pixel0, line1, pixel1) a map block needs, or None if outside."""
        x0, dx, _, y0, _, dy = block.transform
        cols = np.unique(np.append(np.arange(0, block.width, EDGE_STEP), block.width))
        rows = np.unique(np.append(np.arange(0, block.height, EDGE_STEP), block.height))
        edge = np.concatenate([np.column_stack([cols, np.zeros_like(cols)]),
                               np.column_stack([cols, np.full_like(cols, block.height)]),
                               np.column_stack([np.zeros_like(rows), rows]),
                               np.column_stack([np.full_like(rows, block.width), rows])]).astype(float)
        map_xy = np.column_stack([x0 + edge[:, 0] * dx, y0 + edge[:, 1] * dy])
        radar = self._to_radar(map_xy)
        x1, y1 = x0 + block.width * dx, y0 + block.height * dy
        inside = ((self._map_xy[:, 0] >= x0) & (self._map_xy[:, 0] <= x1)
                  & (self._map_xy[:, 1] <= y0) & (self._map_xy[:, 1] >= y1))
        points = np.concatenate([radar[np.isfinite(radar).all(axis=1)], self._gcps[inside, :2]])
        if len(points) == 0:
            return None
        line0 = max(int(math.floor(points[:, 0].min())) - SOURCE_MARGIN, 0)
        pixel0 = max(int(math.floor(points[:, 1].min())) - SOURCE_MARGIN, 0)
        line1 = min(int(math.ceil(points[:, 0].max())) + SOURCE_MARGIN, self._product.height)
        pixel1 = min(int(math.ceil(points[:, 1].max())) + SOURCE_MARGIN, self._product.width)
        return (line0, pixel0, line1, pixel1) if line0 < line1 and pixel0 < pixel1 else None

    def close(self) -> None:
        for raster in self._measurements:
            raster.close()
