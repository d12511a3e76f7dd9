"""Raster I/O as one object, chosen once per run: the :class:`RasterIO` interface.

Two implementations: :class:`.rasterio_io.RasterioIO` (command line, training) and
:class:`.gdal_io.GdalIO` (inside QGIS, where mixing rasterio's bundled GDAL with QGIS's
``osgeo.gdal`` crashes). The front end (or :func:`.io_choice.choose_io`) picks one and the
pipeline passes it down; importing this module pulls in numpy only. A new product format gets a
reader in :mod:`.products`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import numpy as np

from .errors import FloodSarError
from .grid import RasterGrid

NO_BANDS = "it has no raster bands; if it holds subdatasets, pass one of them"
Colours = dict[int, tuple[int, int, int, int]]


class RasterFile(ABC):
    """An open input raster: grid, bands, and windowed reads (never the whole raster at once)."""

    path: Path | str  # a str for virtual paths and URLs (Path would fold their '//')
    grid: RasterGrid
    count: int
    descriptions: tuple[str, ...]
    nodata: tuple[float | None, ...]

    @abstractmethod
    def _read(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        """Read an in-bounds window of 1-based ``bands`` as float32 [len(bands), rows, cols]."""

    @abstractmethod
    def close(self) -> None:
        """Release the file handle."""

    def read_window(self, bands: Sequence[int], row_off: int, col_off: int, height: int,
                    width: int) -> np.ndarray:
        """Boundless read: float32 [len(bands), height, width], NaN outside the raster.

        Not thread-safe: callers serialise access (GDAL handles are not thread-safe).
        """
        inside = self.grid.window_bounds(row_off, col_off, height, width)
        if inside == (row_off, col_off, row_off + height, col_off + width):
            return self._read(bands, *inside)
        out = np.full((len(bands), height, width), np.nan, dtype=np.float32)
        if inside is not None:
            r0, c0, r1, c1 = inside
            out[:, r0 - row_off:r1 - row_off, c0 - col_off:c1 - col_off] = self._read(bands, *inside)
        return out

    def __enter__(self) -> "RasterFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GeoTiffWriter(ABC):
    """A GeoTIFF being written window by window (tiled, DEFLATE, BIGTIFF=IF_SAFER)."""

    @abstractmethod
    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        """Write a [h, w] array (band 1) or a [bands, h, w] array at the given pixel offset."""

    @abstractmethod
    def close(self) -> None:
        """Flush and close (overviews are added afterwards)."""


class RasterIO(ABC):
    """Everything the engine does with raster and vector files, through one geospatial library.

    An implementation says how to open a file, read a CRS's units, write a GeoTIFF and
    write polygons; opening with checks and building grids are shared here.
    """

    #: 'gdal' or 'rasterio'.
    name: str
    #: Exceptions a failed write can raise.
    write_errors: tuple[type[BaseException], ...]

    def open_raster(self, path: str | Path, require_crs: bool = True) -> RasterFile:
        """Open an input raster (a file, a /vsi path or a URL); FloodSarError if missing,
        unreadable or (when ``require_crs``) without a CRS."""
        check_exists(path)
        return self._open(gdal_path(path) if is_virtual(path) else Path(path), require_crs)

    def grid(self, width: int, height: int, crs_wkt: str, transform: Sequence[float]) -> RasterGrid:
        """A grid whose CRS units are read by this library (so its pixel size is this library's)."""
        geographic, metres_per_unit = self.crs_units(crs_wkt)
        return RasterGrid(int(width), int(height), crs_wkt, tuple(float(v) for v in transform),
                          geographic, metres_per_unit)

    @abstractmethod
    def _open(self, path: Path | str, require_crs: bool = True) -> RasterFile:
        """Open an existing file (or GDAL path) as an input raster."""

    @abstractmethod
    def crs_units(self, crs_wkt: str) -> tuple[bool, float | None]:
        """(is geographic, metres per unit of a projected CRS or None); (False, None) if unreadable."""

    @abstractmethod
    def crs_wkt(self, definition: str) -> str:
        """WKT of a CRS given as 'EPSG:n', PROJ or WKT."""

    @abstractmethod
    def same_crs(self, wkt_a: str, wkt_b: str) -> bool:
        """Whether two WKTs describe the same CRS."""

    @abstractmethod
    def create_geotiff(self, path: Path, grid: RasterGrid, dtype: str, nodata: float | None,
                       colours: Colours | None, descriptions: Sequence[str],
                       options: dict[str, str] | None = None) -> GeoTiffWriter:
        """Start a GeoTIFF with one band per description (``options`` add to the engine's)."""

    @abstractmethod
    def add_overviews(self, path: Path, factors: list[int], resampling: str) -> None:
        """Add internal overviews ('nearest' or 'average') to a finished GeoTIFF; one of ``write_errors``
        unless they are all there afterwards."""

    @abstractmethod
    def stored_blocks(self, path: Path) -> list[tuple[int | None, int | None]]:
        """(byte offset, byte count) of every block of band 1 of a GeoTIFF and of each of its overviews, as
        the file's directory records them (None where it records nothing): read without decoding a pixel."""

    @abstractmethod
    def polygonize_water(self, mask_path: Path, gpkg_path: Path, classes: bool = False) -> int:
        """Write the 4-connected water polygons of a mask to a new GeoPackage with true areas; the count.

        Layer 'water', the mask's CRS, field 'area_m2'; exteriors counter-clockwise, holes clockwise.
        ``classes`` (a flood class map): layer 'flood', flood and reference water polygons with their 'class'.
        """

    @abstractmethod
    def open_warped(self, path: Path, grid: RasterGrid, resampling: str) -> RasterFile:
        """``path`` reprojected on the fly onto ``grid`` (float32, NaN outside it and at its nodata)."""

    @abstractmethod
    def transform_bounds(self, src_wkt: str, dst_wkt: str, bounds: tuple[float, float, float, float]
                         ) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) from one CRS to another (edges densified)."""

    @abstractmethod
    def vector_info(self, path: Path) -> tuple[str, tuple[float, float, float, float]]:
        """(CRS WKT, extent) of a vector file's first layer."""

    @abstractmethod
    def rasterize_window(self, path: Path, layer_wkt: str, grid: RasterGrid, row_off: int, col_off: int,
                         height: int, width: int) -> np.ndarray:
        """uint8 [height, width]: 1 where a polygon of the vector file covers a pixel centre, else 0."""

    @abstractmethod
    def read_tags(self, path: Path) -> dict[str, str]:
        """A raster's metadata tags (default domain)."""

    @abstractmethod
    def epsg_wkt(self, code: int) -> str:
        """WKT of EPSG:``code``."""

    @abstractmethod
    def transform_points(self, src_wkt: str, dst_wkt: str, xs: Sequence[float], ys: Sequence[float]
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Points (xs, ys) from one CRS to another."""

    @abstractmethod
    def gcp_transformer(self, gcps: Sequence[tuple[float, float, float, float]], crs_wkt: str
                        ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Map coordinates in ``crs_wkt`` -> raster (line, pixel) through GCPs (line, pixel, lon, lat; WGS84),
        with GDAL's thin-plate-spline GCP transformer (exact at every GCP)."""

    def check_vector_support(self) -> None:
        """FloodSarError up front when this library cannot write polygons here (default: it can)."""

    def check_vector_reading(self, path: Path) -> None:
        """FloodSarError up front when this library cannot read vector layer ``path`` here (default: it can)."""


#: GDAL virtual file systems (/vsizip/, /vsicurl/...) and the URL schemes GDAL reads over /vsicurl/.
VSI_PREFIX = "/vsi"
URL_SCHEMES = ("http://", "https://")


def block_items(width: int, height: int, block_width: int, block_height: int) -> list[tuple[str, str]]:
    """GDAL's GeoTIFF metadata items (domain 'TIFF') naming the offset and the byte count of each block."""
    return [(f"BLOCK_OFFSET_{x}_{y}", f"BLOCK_SIZE_{x}_{y}")
            for y in range(-(-height // block_height)) for x in range(-(-width // block_width))]


def is_virtual(path: str | Path) -> bool:
    """True for GDAL virtual paths and URLs: nothing to look for on the local disk."""
    text = str(path)
    return text.startswith(VSI_PREFIX) or text.lower().startswith(URL_SCHEMES)


def gdal_path(path: str | Path) -> str:
    """The name GDAL opens: a URL goes through /vsicurl/, anything else unchanged."""
    text = str(path)
    return f"/vsicurl/{text}" if text.lower().startswith(URL_SCHEMES) else text


def file_name(path: str | Path) -> str:
    """The last component of a local, virtual or remote path."""
    return PurePosixPath(str(path).replace("\\", "/")).name


def file_stem(path: str | Path) -> str:
    """:func:`file_name` without its last suffix."""
    return PurePosixPath(file_name(path)).stem


def check_exists(path: str | Path) -> None:
    """Refuse a missing local input with a clear message (virtual paths are checked by GDAL)."""
    if not is_virtual(path) and not Path(path).exists():
        raise FloodSarError(f"{path}: file not found; check the path.")


def complex_data(path: str | Path) -> FloodSarError:
    """The error for complex (SLC) pixels, which are not backscatter intensities."""
    return FloodSarError(f"{path}: holds complex values (a Single Look Complex product), not backscatter "
                         "intensity; use a detected GRD product or calibrated intensity "
                         "(e.g. radiometric calibration to sigma0 intensity, then terrain correction).")


def unreadable_pixels(path: str | Path, reason: str) -> FloodSarError:
    """The error for a raster whose header opens but whose pixels cannot be read (cut short or damaged)."""
    detail = reason.strip().splitlines()[0].rstrip(".") if reason.strip() else "read failed"
    return FloodSarError(f"{path}: the pixels cannot be read ({detail}); the file is truncated or corrupt: "
                         "download or export it again (gdalinfo -checksum FILE shows the damage).")


def not_a_raster(path: Path, reason: str = "") -> FloodSarError:
    """The error for a file no GDAL driver can read as a raster."""
    detail = f" ({reason.strip().rstrip('.')})" if reason.strip() else ""
    return FloodSarError(f"{path}: not a raster GDAL can read{detail}; "
                         "pass a GeoTIFF or another GDAL-readable raster.")


def input_grid(io: RasterIO, path: Path | str, width: int, height: int, crs_wkt: str,
               transform: Sequence[float], gcp_count: int = 0, require_crs: bool = True) -> RasterGrid:
    """The grid of input ``path``, refusing rasters that are not map-projected (unless not ``require_crs``:
    a product's radar-geometry measurement, geocoded by its reader)."""
    if not crs_wkt and require_crs:
        if gcp_count:
            raise FloodSarError(
                f"{path}: this raster has ground control points but no map projection; "
                "terrain-correct or warp it first (e.g. gdalwarp -t_srs EPSG:4326 IN OUT.tif).")
        raise FloodSarError(
            f"{path}: this raster has no coordinate reference system; assign one "
            "(e.g. gdal_edit.py -a_srs EPSG:32633 FILE) and try again.")
    return io.grid(width, height, crs_wkt, transform)
