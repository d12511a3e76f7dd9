"""Raster I/O: the grid type, the reader/writer interface and the ``io`` switch.

Two interchangeable implementations sit behind this module: :mod:`.rasterio_io`
(command line, training) and :mod:`.gdal_io` (inside QGIS, where mixing
rasterio's bundled GDAL with QGIS's ``osgeo.gdal`` crashes). Neither is imported
until :func:`backend` asks for it, so importing this module pulls in numpy only.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import shutil
import stat
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Iterator, Sequence

import numpy as np

from .errors import FloodSarError

IO_CHOICES = ("auto", "gdal", "rasterio")

#: Ground metres per degree of latitude (mean Earth radius 6,371,008.8 m).
METRES_PER_DEGREE = math.pi / 180.0 * 6371008.8

#: GeoTIFF creation options for every raster FloodSAR writes (predictor added per data type).
GTIFF_OPTIONS = {"TILED": "YES", "BLOCKXSIZE": "512", "BLOCKYSIZE": "512",
                 "COMPRESS": "DEFLATE", "BIGTIFF": "IF_SAFER"}
PREDICTOR = {"uint8": "2", "float32": "3"}
#: Overviews are built down to this size (pixels on the longer side).
OVERVIEW_MIN_SIZE = 256


@dataclass(frozen=True)
class RasterGrid:
    """Where a raster's pixels lie: size, CRS (WKT, never empty) and GDAL geotransform."""

    width: int
    height: int
    crs_wkt: str
    transform: tuple[float, ...]

    @property
    def pixel_size_m(self) -> float | None:
        """Approximate ground metres per pixel (geometric mean of x and y; None if unknown).

        A geographic CRS is converted at the raster centre's latitude.
        """
        x0, dx, rx, y0, ry, dy = self.transform
        size_x, size_y = math.hypot(dx, ry), math.hypot(rx, dy)
        geographic, metres_per_unit = crs_info(self.crs_wkt)
        if geographic:
            lat = y0 + ry * self.width / 2 + dy * self.height / 2
            size_x *= METRES_PER_DEGREE * math.cos(math.radians(max(-89.9, min(89.9, lat))))
            size_y *= METRES_PER_DEGREE
        elif metres_per_unit:
            size_x *= metres_per_unit
            size_y *= metres_per_unit
        else:
            return None
        return math.sqrt(size_x * size_y)

    def window_bounds(self, row_off: int, col_off: int, height: int, width: int
                      ) -> tuple[int, int, int, int] | None:
        """The part of a window inside the raster as (row0, col0, row1, col1), or None if outside."""
        r0, c0 = max(row_off, 0), max(col_off, 0)
        r1, c1 = min(row_off + height, self.height), min(col_off + width, self.width)
        return (r0, c0, r1, c1) if r0 < r1 and c0 < c1 else None


def make_grid(path: Path | str, width: int, height: int, crs_wkt: str, transform: Sequence[float],
              gcp_count: int = 0, require_crs: bool = True) -> RasterGrid:
    """Build a grid for ``path``, refusing rasters that are not map-projected (unless not ``require_crs``:
    a product's radar-geometry measurement, geocoded by its reader)."""
    if not crs_wkt and require_crs:
        if gcp_count:
            raise FloodSarError(
                f"{path}: this raster has ground control points but no map projection; "
                "terrain-correct or warp it first (e.g. gdalwarp -t_srs EPSG:4326 IN OUT.tif).")
        raise FloodSarError(
            f"{path}: this raster has no coordinate reference system; assign one "
            "(e.g. gdal_edit.py -a_srs EPSG:32633 FILE) and try again.")
    return RasterGrid(int(width), int(height), crs_wkt, tuple(float(v) for v in transform))


def resolve_io(io: str = "auto") -> str:
    """Which implementation to use: 'gdal' inside QGIS (or without rasterio), else 'rasterio'."""
    if io not in IO_CHOICES:
        raise FloodSarError(f"unknown raster I/O {io!r}; choose one of {', '.join(IO_CHOICES)}.")
    if io != "auto":
        return io
    if "qgis" in sys.modules or importlib.util.find_spec("rasterio") is None:
        return "gdal"
    return "rasterio"


def backend(io: str = "auto") -> ModuleType:
    """The implementation module for ``io`` (imported on first use)."""
    return importlib.import_module(f".{resolve_io(io)}_io", __package__)


@lru_cache(maxsize=32)
def crs_info(crs_wkt: str) -> tuple[bool, float | None]:
    """(is geographic, metres per CRS unit or None) for a WKT, parsed by the process's library."""
    return backend().crs_info(crs_wkt)


def resolution_warning(grid: RasterGrid, native_m: float) -> str | None:
    """A sentence when the pixel size is far (over 1.5x) from the model's native size, else None."""
    size = grid.pixel_size_m
    if size is None or native_m <= 0 or 1 / 1.5 <= size / native_m <= 1.5:
        return None
    return (f"The pixel size is about {size:.1f} m but the model expects {native_m:g} m pixels; "
            f"results may be poor: resample the input to {native_m:g} m "
            f"(e.g. gdalwarp -tr {native_m:g} {native_m:g} -r average IN OUT.tif).")


#: GDAL virtual file systems (/vsizip/, /vsicurl/...) and the URL schemes GDAL reads over /vsicurl/.
VSI_PREFIX = "/vsi"
URL_SCHEMES = ("http://", "https://")


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


NO_BANDS = "it has no raster bands; if it holds subdatasets, pass one of them"


def unreadable_pixels(path: Path, reason: str) -> FloodSarError:
    """The error for a raster whose header opens but whose pixels cannot be read (cut short or damaged)."""
    detail = reason.strip().splitlines()[0].rstrip(".") if reason.strip() else "read failed"
    return FloodSarError(f"{path}: the pixels cannot be read ({detail}); the file is truncated or corrupt: "
                         "download or export it again (gdalinfo -checksum FILE shows the damage).")


def not_a_raster(path: Path, reason: str = "") -> FloodSarError:
    """The error for a file no GDAL driver can read as a raster."""
    detail = f" ({reason.strip().rstrip('.')})" if reason.strip() else ""
    return FloodSarError(f"{path}: not a raster GDAL can read{detail}; "
                         "pass a GeoTIFF or another GDAL-readable raster.")


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
        out = np.full((len(bands), height, width), np.nan, dtype=np.float32)
        inside = self.grid.window_bounds(row_off, col_off, height, width)
        if inside is not None:
            r0, c0, r1, c1 = inside
            out[:, r0 - row_off:r1 - row_off, c0 - col_off:c1 - col_off] = self._read(bands, *inside)
        return out

    def __enter__(self) -> "RasterFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_raster(path: str | Path, io: str = "auto", require_crs: bool = True) -> RasterFile:
    """Open an input raster (a file, a /vsi path or a URL); FloodSarError if missing,
    unreadable or (when ``require_crs``) without a CRS."""
    check_exists(path)
    return backend(io).open_raster(gdal_path(path) if is_virtual(path) else Path(path), require_crs)


def creation_options(dtype: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """GeoTIFF creation options for ``dtype``: the engine's, with ``extra`` added or overriding."""
    return {**GTIFF_OPTIONS, "PREDICTOR": PREDICTOR[dtype], **(extra or {})}


def overview_factors(grid: RasterGrid) -> list[int]:
    """Overview decimation factors 2, 4, 8... until the longer side drops to OVERVIEW_MIN_SIZE."""
    factors = []
    while max(grid.width, grid.height) / 2 ** (len(factors) + 1) >= OVERVIEW_MIN_SIZE:
        factors.append(2 ** (len(factors) + 1))
    return factors


def check_writable(path: str | Path) -> Path:
    """Refuse, before any work, an output whose folder is missing or not writable."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise FloodSarError(f"{path}: is a folder; give an output file name (e.g. {path / 'water.tif'}).")
    if not folder.is_dir():
        raise FloodSarError(f"{path}: the output folder {folder} does not exist; create it first.")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
    except OSError as exc:
        raise FloodSarError(f"{path}: cannot write to the folder {folder} ({exc.strerror}); "
                            "choose a writable output folder.") from exc
    os.close(fd)
    os.unlink(probe)
    return path


class StagedOutputs:
    """The temporary files of one run's outputs, renamed onto their final names only when all are done.

    Each temporary file lies in a private folder that ``mkdtemp`` creates (fresh name, mode 0700)
    beside its output: nobody else can plant a link or a file in it, so the write cannot be
    redirected, whatever the writer (GDAL, SQLite) does with the name. :meth:`commit` moves only
    regular files. Leaving the ``with`` block by any exception (Ctrl-C and the CLI's
    SIGTERM/SIGHUP included) deletes every temporary file and leaves the final paths untouched.
    """

    def __init__(self) -> None:
        self._files: dict[Path, Path] = {}  # final -> its latest temporary file
        self._folders: list[Path] = []  # every private folder made, removed at the end

    def temporary(self, final: str | Path) -> Path:
        """A new temporary file for ``final`` (not created yet): write it. Earlier ones go at the end."""
        final = check_writable(final)
        self._folders.append(Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.stem}.", suffix=".partial")))
        folder = self._folders[-1]
        self._files[final] = folder / final.name
        return self._files[final]

    def current(self, final: str | Path) -> Path:
        """The latest temporary file of ``final``."""
        return self._files[Path(final)]

    def commit(self) -> None:
        """Move every temporary file onto its final name (each move is atomic)."""
        for final, tmp in self._files.items():
            if not stat.S_ISREG(os.lstat(tmp).st_mode):
                raise FloodSarError(f"{final}: the output was not written as a regular file; nothing was saved.")
        for final, tmp in self._files.items():
            os.replace(tmp, final)
        self._files.clear()

    def discard(self) -> None:
        """Delete every temporary file and folder (with any sidecar GDAL or SQLite left in it)."""
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._files.clear()
        self._folders.clear()

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` (see :class:`StagedOutputs`); renamed onto ``path`` on success.

    Any exception (KeyboardInterrupt included) deletes the temporary file and leaves ``path`` untouched.
    """
    with StagedOutputs() as staged:
        yield staged.temporary(path)


class GeoTiffWriter(ABC):
    """A GeoTIFF being written window by window (tiled, DEFLATE, BIGTIFF=IF_SAFER)."""

    @abstractmethod
    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        """Write a [h, w] array (band 1) or a [bands, h, w] array at the given pixel offset."""

    @abstractmethod
    def close(self) -> None:
        """Flush and close (overviews are added afterwards, once the file is read back whole)."""


def equal_area_proj4(lon: float, lat: float) -> str:
    """A Lambert azimuthal equal-area projection centred on (lon, lat): true areas in m2."""
    return f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs"


def grid_centre(grid: RasterGrid) -> tuple[float, float]:
    """The raster centre in CRS coordinates."""
    x0, dx, rx, y0, ry, dy = grid.transform
    return (x0 + dx * grid.width / 2 + rx * grid.height / 2,
            y0 + ry * grid.width / 2 + dy * grid.height / 2)


def grid_bounds(grid: RasterGrid) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a north-up grid in CRS coordinates."""
    x0, dx, _, y0, _, dy = grid.transform
    xs, ys = (x0, x0 + dx * grid.width), (y0, y0 + dy * grid.height)
    return min(xs), min(ys), max(xs), max(ys)


def window_grid(grid: RasterGrid, row_off: int, col_off: int, height: int, width: int) -> RasterGrid:
    """The grid of a pixel window of ``grid`` (it may reach outside the raster)."""
    x0, dx, rx, y0, ry, dy = grid.transform
    transform = (x0 + col_off * dx + row_off * rx, dx, rx, y0 + col_off * ry + row_off * dy, ry, dy)
    return RasterGrid(width, height, grid.crs_wkt, transform)


WATER_LAYER = "water"
FLOOD_LAYER = "flood"
AREA_FIELD = "area_m2"
CLASS_FIELD = "class"
#: GeoPackage 1.2 opens without warnings in the GDAL of QGIS 3.22 and later.
GPKG_VERSION = "1.2"
#: Mask encoding shared by every writer and reader of FloodSAR masks.
DRY, WATER, NODATA = 0, 1, 255
MASK_COLOURS = {DRY: (210, 210, 210, 255), WATER: (0, 92, 230, 255), NODATA: (0, 0, 0, 0)}
PROBABILITY_NODATA = -1.0
#: Flood class map encoding (see :mod:`.flood`): 0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata.
FLOOD, REFERENCE_WATER, EXCLUDED = 1, 2, 3
CLASS_NAMES = {DRY: "dry", FLOOD: "flood", REFERENCE_WATER: "reference water", EXCLUDED: "excluded"}
CLASS_COLOURS = {DRY: (230, 230, 230, 255), FLOOD: (220, 30, 60, 255), REFERENCE_WATER: (0, 92, 230, 255),
                 EXCLUDED: (120, 120, 120, 255), NODATA: (0, 0, 0, 0)}


def lut_vrt(path: Path, grid: RasterGrid, lut: str) -> str:
    """VRT XML mapping a mask file's values through a GDAL LUT (e.g. water -> 1, else 0).

    Lets sieve and polygonize use derived mask bands without reading the raster into memory.
    """
    return (f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
            f'<GeoTransform>{", ".join(repr(v) for v in grid.transform)}</GeoTransform>'
            f'<VRTRasterBand dataType="Byte" band="1"><ComplexSource>'
            f'<SourceFilename relativeToVRT="0">{_xml_escape(str(path.resolve()))}</SourceFilename>'
            f'<SourceBand>1</SourceBand><LUT>{lut}</LUT></ComplexSource></VRTRasterBand></VRTDataset>')


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


#: LUTs over the mask values 0/1/255 (and classes 2, 3): water only, flood classes, and valid (not nodata).
WATER_LUT = "0:0,1:1,254:0,255:0"
FLOOD_CLASSES_LUT = "0:0,1:1,2:2,3:0,255:0"
VALID_LUT = "0:1,1:1,254:1,255:0"


def polygon_layer(classes: bool) -> tuple[str, str]:
    """(layer name, LUT) of the polygons of a water mask, or of a flood class map (flood and reference water)."""
    return (FLOOD_LAYER, FLOOD_CLASSES_LUT) if classes else (WATER_LAYER, WATER_LUT)
