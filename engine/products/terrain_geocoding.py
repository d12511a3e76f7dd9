"""Terrain-corrected geocoding of a GRD product: map pixels -> radar (line, pixel) through the orbit and a DEM.

Each output pixel is a 3-D point: its map position and the DEM's height there. The DEM is taken to
hold heights above the geoid (what NASADEM, SRTM and the Copernicus DEM give: EGM96 or EGM2008,
within a few metres of each other); PROJ's EGM96 grid (``egm96_15.gtx`` / ``us_nga_egm96_15.tif``,
Debian's proj-data) adds the geoid undulation to make them ellipsoidal heights. Without that grid the
heights are used as they are and ``GEOID_MISSING`` says what that costs.

The radar position of a 3-D point is solved with the libraries made for it: xarray-sentinel reads
the annotation's orbit state vectors and slant-to-ground-range polynomials, sarsen fits the orbit and
solves the zero-Doppler azimuth time and slant range (``simulate_acquisition``, iterated to 1 cm of
the zero-Doppler plane: its default 1 m is 0.1 line, and the answer then depends on where it
starts), and xarray-sentinel turns slant range time into ground range. Line = (azimuth time - first
line time) / line interval; pixel = ground range / pixel spacing.

Solving every pixel costs about 2 s per million pixels, so per window the exact solution is computed
on a lattice every ``STEP`` output pixels at three heights spanning the window's terrain and
interpolated: bilinearly in position, quadratically in height (a pixel moves nearly linearly with
height; the quadratic term is under a pixel over 3 km of relief). The three heights are solved in
one call, the iteration starting from the ellipsoid geocoding's lines.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from io import BytesIO
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from .. import ancillary
from ..errors import OptionError
from ..grid import RasterGrid
from ..quiet_imports import pyproj_data_warning_hidden
from ..raster_io import RasterIO
from ..tiling import Window

#: PROJ's EGM96 geoid grid, by its current and its older name.
GEOID_FILES = ("us_nga_egm96_15.tif", "egm96_15.gtx")
#: Where PROJ keeps its grids when no environment variable says otherwise.
PROJ_DIRS = ("/usr/share/proj", "/usr/local/share/proj")
#: Said when no geoid grid is found.
GEOID_MISSING = ("PROJ's EGM96 geoid grid (egm96_15.gtx, Debian package proj-data) was not found, so the DEM's "
                 "heights are used as ellipsoidal heights: the geoid lies -107 to +85 m from the ellipsoid, which "
                 "moves pixels by up to that much / tan(incidence) in range; install PROJ's grids or pass a DEM in "
                 "ellipsoidal heights")
#: sarsen iterates until a point is this close (m) to the zero-Doppler plane (its default, 1 m, is 0.1 line).
ZERO_DOPPLER_M = 0.01
#: One nanosecond: turns datetime64[ns] differences into numbers.
NANOSECOND = np.timedelta64(1, "ns")


def geoid_grid() -> Optional[Path]:
    """PROJ's EGM96 grid file, where PROJ_DATA / PROJ_LIB or the usual folders hold one."""
    folders = [d for name in ("PROJ_DATA", "PROJ_LIB") for d in os.environ.get(name, "").split(os.pathsep) if d]
    for folder in [*folders, *PROJ_DIRS]:
        for name in GEOID_FILES:
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


class OrbitGeometry:
    """Where a 3-D point lies in the radar image, from the annotation's orbit, timing and range polynomials."""

    def __init__(self, annotation: bytes, dem: Path, product: str) -> None:
        """``product`` names the product in errors."""
        try:
            with pyproj_data_warning_hidden():  # sarsen imports pyproj
                from sarsen import apps, orbit
            from xarray_sentinel import sentinel1
        except ImportError as exc:
            raise OptionError("dem", dem, f"terrain-corrected geocoding of GRD products needs the Python packages "
                              f"sarsen and xarray-sentinel ({exc})",
                              "install them (pip install sarsen) or leave out {dem}", dem) from exc
        self._simulate = apps.simulate_acquisition
        self._ground_range = sentinel1.slant_range_time_to_ground_range
        try:
            state_vectors = sentinel1.open_orbit_dataset(BytesIO(annotation))
            self._orbit = orbit.OrbitPolyfitInterpolator.from_position(state_vectors.position)
            self._conversion = sentinel1.open_coordinate_conversion_dataset(BytesIO(annotation))
            info = ElementTree.fromstring(annotation).find("imageAnnotation/imageInformation")
            self._first_line = np.datetime64(info.findtext("productFirstLineUtcTime"), "ns")
            self._line_interval = float(info.findtext("azimuthTimeInterval"))
            self._pixel_spacing = float(info.findtext("rangePixelSpacing"))
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise OptionError("dem", dem, f"the product's annotation lacks the orbit state vectors, image timing or "
                              f"range polynomials terrain correction needs ({type(exc).__name__}: {exc})",
                              "download the product again, or leave out {dem} for ellipsoid geocoding",
                              product) from exc

    def radar_coordinates(self, xs: np.ndarray, ys: np.ndarray, heights: np.ndarray, crs_wkt: str,
                          near_lines: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Raster (line, pixel) coordinates (sample centres at +0.5) of points (x, y in ``crs_wkt``, ellipsoidal
        height in m), arrays of one shape. ``near_lines``: lines close to the answer (the same points at another
        height), where sarsen's zero-Doppler iteration starts (else at the orbit's middle)."""
        import xarray as xr
        from sarsen import scene

        def grid(values: np.ndarray) -> xr.DataArray:
            return xr.DataArray(np.atleast_2d(values).astype(float), dims=("y", "x"))

        points = scene.make_nd_dataarray([grid(v) for v in (xs, ys, heights)])
        ecef = scene.transform_dem_3d(points, source_crs=crs_wkt)
        guess = 0.0
        if near_lines is not None:
            times = self._first_line + ((near_lines - 0.5) * self._line_interval * 1e9).astype("timedelta64[ns]")
            guess = grid((times - self._orbit.epoch) / NANOSECOND * 1e-9)
        acquisition = self._simulate(ecef, self._orbit, include_variables={"azimuth_time", "slant_range_time"},
                                     azimuth_time=guess, zero_doppler_distance=ZERO_DOPPLER_M)
        ground_range = self._ground_range(acquisition.azimuth_time, acquisition.slant_range_time, self._conversion)
        seconds = (acquisition.azimuth_time.values - self._first_line) / NANOSECOND * 1e-9
        lines = seconds / self._line_interval + 0.5
        pixels = ground_range.values / self._pixel_spacing + 0.5
        return lines.reshape(np.shape(xs)), pixels.reshape(np.shape(xs))


class TerrainGeocoding:
    """Radar coordinates of output pixels at the DEM's heights, window by window."""

    def __init__(self, annotation: bytes, dem: Path, grid: RasterGrid, io: RasterIO, product: str) -> None:
        self.dem_path, self._grid = dem, grid
        self._dem = ancillary.Layer(dem, grid, "DEM", "bilinear", 0, io)
        #: Share (0..1) of the output grid's extent inside the DEM's extent.
        self.covered_share = self._dem.extent_share
        try:
            self.geometry = OrbitGeometry(annotation, dem, product)
            self.geoid_path = geoid_grid()
            self._geoid = Geoid(self.geoid_path, io) if self.geoid_path else None
        except BaseException:
            self._dem.close()
            raise
        self._io = io

    def radar_coordinates(self, window: Window, xs: np.ndarray, ys: np.ndarray, near_lines: np.ndarray,
                          spread: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raster (line, pixel) of every pixel of ``window``: solved exactly at the lattice points (xs, ys) at three
        heights in one call (starting from ``near_lines``, e.g. the ellipsoid geocoding's), ``spread`` from the
        lattice onto the window's pixels, then quadratic in each pixel's height. NaN where the DEM has no data."""
        heights = self._dem.read(window)[0].astype(np.float64)
        if self._geoid is not None:  # the geoid varies over tens of km: the lattice is plenty
            lon, lat = self._io.transform_points(self._grid.crs_wkt, self._io.epsg_wkt(4326), xs.ravel(), ys.ravel())
            heights += spread(self._geoid.undulation(lon, lat))
        if not np.isfinite(heights).any():
            nothing = np.full(heights.shape, np.nan)
            return nothing, nothing.copy()
        low, high = float(np.nanmin(heights)), float(np.nanmax(heights))
        high = max(high, low + 1.0)  # three distinct heights even on flat ground
        levels = (low, (low + high) / 2, high)
        three = [np.concatenate([v] * 3) for v in (xs, ys, near_lines)]  # one call: sarsen's overhead is per call
        stacked = np.concatenate([np.full(xs.shape, level) for level in levels])
        lines, pixels = self.geometry.radar_coordinates(three[0], three[1], stacked, self._grid.crs_wkt, three[2])
        solved = list(zip(np.split(lines, 3), np.split(pixels, 3)))
        weights = _quadratic_weights(levels, heights)
        return tuple(sum(w * spread(s[k]) for w, s in zip(weights, solved)) for k in (0, 1))

    def close(self) -> None:
        self._dem.close()


class Geoid:
    """A geoid grid (WGS 84 longitude/latitude, metres above the ellipsoid), read whole: 4 MB at 15'."""

    def __init__(self, path: Path, io: RasterIO) -> None:
        raster = io.open_raster(path)
        try:
            self._values = raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0].astype(np.float64)
            self._transform = raster.grid.transform
        finally:
            raster.close()

    def undulation(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Geoid height above the ellipsoid (m) at (lon, lat), bilinear."""
        x0, dx, _, y0, _, dy = self._transform
        at = [(np.asarray(lat) - y0) / dy - 0.5, (np.asarray(lon) - x0) / dx - 0.5]
        return ndimage.map_coordinates(self._values, at, order=1, mode="nearest")


def _quadratic_weights(levels: tuple[float, float, float], heights: np.ndarray) -> list[np.ndarray]:
    """Lagrange weights interpolating values known at three ``levels`` to ``heights``."""
    return [np.prod([(heights - levels[j]) / (levels[i] - levels[j]) for j in range(3) if j != i], axis=0)
            for i in range(3)]
