"""Other layers on the post-flood grid, read window by window whatever their CRS, grid or format.

A pre-flood image, a reference water layer, HAND, a DEM or an exclusion mask rarely shares the
post-flood image's grid. Rasters are reprojected on the fly (a GDAL warped VRT: each window read
warps only the source pixels it needs, so memory stays bounded at any size); vectors (GeoPackage,
Shapefile, anything OGR reads) are rasterised per window (pixel centres inside a polygon), after
filtering features by the window's bounding box. A layer that does not overlap the scene at all
is refused; how much of the scene a layer covers is counted as it is read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FloodSarError
from .grid import RasterGrid
from .raster_io import RasterFile, RasterIO, check_exists
from .tiling import Window, spread_windows

#: File suffixes read as vector layers (everything else is opened as a raster).
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".sqlite", ".kml", ".gml")


def same_grid(a: RasterGrid, b: RasterGrid, io: RasterIO) -> bool:
    """Whether two grids have the same size, position (to 1e-6 pixel) and CRS."""
    return ((a.width, a.height) == (b.width, b.height)
            and np.allclose(a.transform, b.transform, rtol=0, atol=1e-6 * max(abs(a.transform[1]), 1e-12))
            and io.same_crs(a.crs_wkt, b.crs_wkt))


def padded_grid(grid: RasterGrid, margin: int) -> RasterGrid:
    """``grid`` grown by ``margin`` pixels on every side."""
    return grid.window(-margin, -margin, grid.height + 2 * margin, grid.width + 2 * margin)


def overlap_share(grid: RasterGrid, crs_wkt: str, bounds: tuple[float, float, float, float],
                  io: RasterIO) -> float:
    """Share (0..1) of the grid's extent inside ``bounds`` (given in ``crs_wkt``), by bounding boxes."""
    left, bottom, right, top = io.transform_bounds(crs_wkt, grid.crs_wkt, bounds)
    g_left, g_bottom, g_right, g_top = grid.bounds
    width = max(0.0, min(right, g_right) - max(left, g_left))
    height = max(0.0, min(top, g_top) - max(bottom, g_bottom))
    return width * height / ((g_right - g_left) * (g_top - g_bottom))


def _no_overlap(path: Path, role: str) -> FloodSarError:
    return FloodSarError(f"{path}: the {role} does not overlap the post-flood image; "
                         "pass a layer that covers the same area.")


def open_aligned(path: str | Path, grid: RasterGrid, resampling: str, io: RasterIO,
                 role: str = "layer") -> tuple[RasterFile, float]:
    """A raster as seen on ``grid`` (as it is when already on it), and the share (0..1) of the grid's extent
    inside the raster's (:func:`overlap_share`); FloodSarError if it does not overlap."""
    raster = io.open_raster(path)
    if same_grid(raster.grid, grid, io):
        return raster, 1.0
    source = raster.grid
    raster.close()
    share = overlap_share(grid, source.crs_wkt, source.bounds, io)
    if share == 0:
        raise _no_overlap(Path(path), role)
    return io.open_warped(Path(path), grid, resampling), share


class Layer:
    """One band of a raster, or a vector file's polygons (1 inside, 0 outside), on a grid, by window.

    ``margin`` extra pixels are read around each window (slope needs its neighbours). ``extent_share``: the
    share (0..1) of the grid's extent, margin included, inside the layer's extent (bounding boxes).
    """

    def __init__(self, path: str | Path, grid: RasterGrid, role: str, resampling: str, margin: int,
                 io: RasterIO) -> None:
        self.path, self.role, self.margin, self._io = Path(path), role, margin, io
        self._grid = grid
        check_exists(self.path)
        self.is_vector = self.path.suffix.lower() in VECTOR_SUFFIXES
        self._raster: RasterFile | None = None
        if self.is_vector:
            io.check_vector_reading(self.path)
            self._crs, self._bounds = io.vector_info(self.path)
            if not self._crs:
                raise FloodSarError(f"{self.path}: this vector layer has no coordinate reference system; "
                                    "assign one (e.g. in QGIS: Layer > Set CRS) and save it again.")
            self.extent_share = overlap_share(grid, self._crs, self._bounds, io)
            if self.extent_share == 0:
                raise _no_overlap(self.path, role)
            self._extent = io.transform_bounds(self._crs, grid.crs_wkt, self._bounds)
        else:
            self._raster, self.extent_share = open_aligned(self.path, padded_grid(grid, margin), resampling, io,
                                                           role)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(float32 values, bool covered), both [h + 2 margin, w + 2 margin]: NaN/False where the layer has no data."""
        m = self.margin
        height, width = window.height + 2 * m, window.width + 2 * m
        if self._raster is not None:
            values = self._raster.read_window([1], window.row, window.col, height, width)[0]
            nodata = self._raster.nodata[0]
            covered = np.isfinite(values)
            if nodata is not None and np.isfinite(nodata):
                covered &= values != np.float32(nodata)
            return np.where(covered, values, np.nan).astype(np.float32), covered
        values = self._io.rasterize_window(self.path, self._crs, self._grid, window.row - m, window.col - m,
                                           height, width).astype(np.float32)
        return values, self._inside_extent(window.row - m, window.col - m, height, width)

    def _inside_extent(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """Pixels whose centre lies inside the vector layer's extent (its bounding box on the grid)."""
        left, bottom, right, top = self._extent
        x0, dx, _, y0, _, dy = self._grid.transform
        xs = x0 + (col_off + np.arange(width) + 0.5) * dx
        ys = y0 + (row_off + np.arange(height) + 0.5) * dy
        return ((ys >= bottom) & (ys <= top))[:, None] & ((xs >= left) & (xs <= right))[None, :]

    def sample(self, windows: int = 8, size: int = 64) -> np.ndarray:
        """Covered values from a bounded grid of windows spread over the scene."""
        values = []
        for window in spread_windows(self._grid.height, self._grid.width, windows, size):
            block, covered = self.read(window)
            values.append(block[covered])
        return np.concatenate(values)

    def close(self) -> None:
        if self._raster is not None:
            self._raster.close()
