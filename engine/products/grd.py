"""A GRD SAFE product as one two-band (VV, VH) raster of linear sigma0 on a 10 m UTM grid.

Nothing is computed up front: each window read maps its pixel centres to radar geometry with
GDAL's thin-plate-spline GCP transformer (exact at every geolocation grid point; evaluated every
STEP pixels and interpolated linearly in between, as GDAL's warper does), reads only the digital
numbers those cover, calibrates them and removes thermal noise (:mod:`.calibration`), and samples
them bilinearly. Memory per read is bounded by BLOCK, whatever the product size.

Without a DEM this is ellipsoid geocoding: each pixel goes where the annotation's geolocation grid
puts it, at the grid's coarse terrain height. Where the real terrain differs by dh, the position is
off by about dh / tan(incidence) in range (500 m of relief at 35 degrees: about 700 m). With a DEM,
:mod:`.terrain_geocoding` places each pixel at the DEM's height through the orbit instead.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from scipy import ndimage

from ..errors import FloodSarError
from ..raster_io import RasterFile, RasterIO
from ..tiling import Window
from .container import Container
from .product import Product
from .calibration import SIGMA0_FLOOR, sigma0
from .safe import SafeProduct, parse
from .terrain_geocoding import GEOID_MISSING, TerrainGeocoding

#: Output pixel size (m): the GRDH pixel spacing and the model's native resolution.
PIXEL_M = 10.0
#: Output blocks are warped at most BLOCK x BLOCK pixels at a time.
BLOCK = 1024
#: Output pixels between points mapped exactly to radar geometry (linear in between: under 1/20 px
#: off even on the test fixture, whose geolocation grid is 40 times denser than a real product's).
STEP = 8
UNITS_REASON = "calibrated sigma0 from the product's LUTs"
#: The relief example quoted to users (m, degrees).
RELIEF_M, RELIEF_INCIDENCE = 500.0, 35.0


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS 84 / UTM zone holding (lon, lat)."""
    return (32600 if lat >= 0 else 32700) + int((lon + 180.0) // 6.0) % 60 + 1


def relief_shift_m(relief_m: float, incidence_deg: float) -> float:
    """Horizontal position error of ellipsoid geocoding for a height error ``relief_m``."""
    return relief_m / math.tan(math.radians(incidence_deg))


def read(container: Container, io: RasterIO, dem: Optional[Path] = None) -> Optional[Product]:
    """A Product for a folder or zip holding a SAFE, else None; terrain-corrected with ``dem`` when given."""
    manifests = [m for m in container.ending("manifest.safe") if m.count("/") <= 1]
    if not manifests:
        return None
    return grd_product(parse(container, manifests[0]), io, dem)


def grd_product(product: SafeProduct, io: RasterIO, dem: Optional[Path] = None) -> Product:
    raster = GrdRaster(product, io, dem)
    zone = raster.epsg % 100
    hemisphere = "N" if raster.epsg < 32700 else "S"
    grid = f"WGS 84 / UTM zone {zone}{hemisphere} (EPSG:{raster.epsg}) at {PIXEL_M:g} m, bilinear resampling, " \
           "window by window"
    steps = [
        "calibration to sigma0 with the product's calibration LUT (sigmaNought)",
        f"thermal noise removal with the product's noise LUTs (range x azimuth); values at or below zero "
        f"set to {10 * math.log10(SIGMA0_FLOOR):.0f} dB",
    ]
    terrain = raster.terrain
    if terrain is None:
        steps.append(f"geocoding on the ellipsoid from the geolocation grid ({len(product.gcps.line)} GCPs, GDAL "
                     f"thin-plate spline) to {grid}")
        return Product(kind=_kind(product), raster=raster, units="linear", units_reason=UNITS_REASON,
                       steps=steps, warnings=[_ellipsoid_warning(product)])
    geoid = f"+ the EGM96 geoid ({terrain.geoid_path})" if terrain.geoid_path else "taken as ellipsoidal"
    steps.append(f"terrain-corrected geocoding with the DEM {terrain.dem_path} (heights {geoid}): each pixel "
                 "placed through the annotation's orbit state vectors, zero-Doppler time and slant range "
                 f"(sarsen, xarray-sentinel), to {grid}")
    warnings = [] if terrain.geoid_path else [GEOID_MISSING + "."]
    if terrain.covered_share < 0.999:
        warnings.append(f"{terrain.dem_path}: the DEM covers only {100 * terrain.covered_share:.0f}% of the "
                        "product's extent; pixels outside it are nodata: pass a DEM that covers the whole scene.")
    return Product(kind=_kind(product), raster=raster, units="linear", units_reason=UNITS_REASON,
                   steps=steps, warnings=warnings)


def _kind(product: SafeProduct) -> str:
    return f"Sentinel-1 {product.mode} GRD SAFE product ({product.name})"


def _ellipsoid_warning(product: SafeProduct) -> str:
    gcps = product.gcps
    incidence = (float(gcps.incidence.min()), float(gcps.incidence.max()))
    return (
        f"Ellipsoid geocoding (no DEM): pixels are placed at the geolocation grid's terrain height "
        f"({gcps.height.min():.0f} to {gcps.height.max():.0f} m here); where the real ground is dh higher or lower "
        f"they shift by about dh / tan(incidence) in range (incidence {incidence[0]:.0f} to {incidence[1]:.0f} deg "
        f"here): {RELIEF_M:.0f} m of relief at {RELIEF_INCIDENCE:.0f} deg moves a pixel about "
        f"{relief_shift_m(RELIEF_M, RELIEF_INCIDENCE):.0f} m. Fine on flood plains; in hilly terrain use an RTC "
        "product (ASF HyP3), or pass a DEM ({dem}) for terrain-corrected geocoding.")


class GrdRaster(RasterFile):
    """VV and VH sigma0 (linear) of a GRD product on a UTM grid, computed per window."""

    def __init__(self, product: SafeProduct, io: RasterIO, dem: Optional[Path] = None) -> None:
        self._product = product
        self._io = io
        gcps = product.gcps
        self.epsg = utm_epsg(float(np.mean(gcps.lon)), float(np.mean(gcps.lat)))
        crs = self._io.epsg_wkt(self.epsg)
        x, y = self._io.transform_points(self._io.epsg_wkt(4326), crs, gcps.lon, gcps.lat)
        left, top = math.floor(x.min() / PIXEL_M) * PIXEL_M, math.ceil(y.max() / PIXEL_M) * PIXEL_M
        width = math.ceil((x.max() - left) / PIXEL_M)
        height = math.ceil((top - y.min()) / PIXEL_M)
        self.grid = io.grid(width, height, crs, (left, PIXEL_M, 0.0, top, 0.0, -PIXEL_M))
        # A geolocation grid point gives the position of the centre of sample (line, pixel): GDAL's
        # raster coordinates put that centre at (line + 0.5, pixel + 0.5).
        points = zip(gcps.line + 0.5, gcps.pixel + 0.5, gcps.lon, gcps.lat)
        self.to_radar = self._io.gcp_transformer(list(points), crs)
        self._last_coordinates: tuple = (None, None)
        self.path = product.name
        self.count, self.descriptions, self.nodata = 2, ("VV", "VH"), (None, None)
        self._pols = [product.pols["VV"], product.pols["VH"]]
        self._measurements: list[RasterFile] = []
        self.terrain: Optional[TerrainGeocoding] = None
        try:
            if dem is not None:
                self.terrain = TerrainGeocoding(product.annotation, Path(dem), self.grid, io, product.name)
            for pol in self._pols:
                raster = io.open_raster(pol.measurement, require_crs=False)
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

    def radar_coordinates(self, row0: int, col0: int, row1: int, col1: int) -> tuple[np.ndarray, np.ndarray]:
        """Radar (line, pixel) raster coordinates of the output pixel centres in rows/cols [row0:row1, col0:col1]."""
        key = (row0, col0, row1, col1)
        if self._last_coordinates[0] != key:  # VV and VH are read one after the other over the same window
            rows = np.unique(np.append(np.arange(row0, row1, STEP), row1 - 1))
            cols = np.unique(np.append(np.arange(col0, col1, STEP), col1 - 1))
            x0, dx, _, y0, _, dy = self.grid.transform
            ys, xs = np.meshgrid(y0 + (rows + 0.5) * dy, x0 + (cols + 0.5) * dx, indexing="ij")
            down, across = _linear_weights(rows, row0, row1), _linear_weights(cols, col0, col1)

            def spread(coarse: np.ndarray) -> np.ndarray:
                return down @ coarse.reshape(len(rows), len(cols)) @ across.T

            ellipsoid = [c.reshape(xs.shape) for c in self.to_radar(xs.ravel(), ys.ravel())]
            if self.terrain is None:
                coordinates = tuple(spread(c) for c in ellipsoid)
            else:
                window = Window(row0, col0, row1 - row0, col1 - col0)
                coordinates = self.terrain.radar_coordinates(window, xs, ys, ellipsoid[0], spread)
            self._last_coordinates = (key, coordinates)
        return self._last_coordinates[1]

    def _block(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        """One output block: read and calibrate the radar pixels it covers, sample them bilinearly."""
        lines, pixels = self.radar_coordinates(row0, col0, row1, col1)
        out = np.full((len(bands), row1 - row0, col1 - col0), np.nan, dtype=np.float32)
        known = np.isfinite(lines) & np.isfinite(pixels)  # not where a DEM has no data
        if not known.any():
            return out
        line0 = max(math.floor(lines[known].min()) - 1, 0)
        line1 = min(math.ceil(lines[known].max()) + 1, self._product.height)
        pixel0 = max(math.floor(pixels[known].min()) - 1, 0)
        pixel1 = min(math.ceil(pixels[known].max()) + 1, self._product.width)
        if line0 >= line1 or pixel0 >= pixel1:
            return out  # outside the product's footprint
        outside = -2.0  # a sample index map_coordinates fills with NaN
        at = [np.where(known, lines - 0.5 - line0, outside), np.where(known, pixels - 0.5 - pixel0, outside)]
        for i, band in enumerate(bands):
            dn = self._measurements[band - 1].read_window([1], line0, pixel0, line1 - line0, pixel1 - pixel0)[0]
            calibrated = sigma0(dn, self._pols[band - 1], line0, pixel0)
            out[i] = ndimage.map_coordinates(calibrated, at, order=1, mode="constant", cval=np.nan)
        return out

    def close(self) -> None:
        for raster in self._measurements:
            raster.close()
        if self.terrain is not None:
            self.terrain.close()


def _linear_weights(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Weights [stop - start, len(samples)] interpolating values at ``samples`` linearly onto start..stop-1."""
    position = np.interp(np.arange(start, stop), samples, np.arange(len(samples)))
    below = np.minimum(position.astype(int), max(len(samples) - 2, 0))
    weights = np.zeros((stop - start, len(samples)))
    rows = np.arange(stop - start)
    weights[rows, below] = 1 - (position - below)
    if len(samples) > 1:
        weights[rows, below + 1] += position - below
    return weights
