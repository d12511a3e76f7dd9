"""Raster I/O with rasterio (command line and training); see :class:`.raster_io.RasterIO`."""
from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

import numpy as np
import rasterio
import rasterio.control
import rasterio.env
import rasterio.features
import rasterio.transform
import rasterio.warp
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from . import formats
from .errors import FloodSarError
from .grid import RasterGrid, equal_area_proj4
from .quiet_imports import pyproj_data_warning_hidden
from .raster_io import (NO_BANDS, Colours, GeoTiffWriter, RasterFile, RasterIO, block_items, complex_data,
                        input_grid, not_a_raster, unreadable_pixels)

#: GDAL's block cache defaults to 5% of RAM and would grow with the raster: cap it
#: (rasterio bundles its own GDAL, so this leaves QGIS's osgeo.gdal alone).
CACHE_MAX_MB = 256
if "GDAL_CACHEMAX" not in os.environ:
    rasterio.env.set_gdal_config("GDAL_CACHEMAX", CACHE_MAX_MB * 1024 * 1024)  # bytes
#: GDAL prints its errors on stderr besides returning them; FloodSAR reports each failure in one line
#: of its own (with GDAL's reason), so the printed copies go (set CPL_LOG to a file to keep them).
if "CPL_LOG" not in os.environ:
    rasterio.env.set_gdal_config("CPL_LOG", os.devnull)


def _silence_private_libtiff() -> None:
    """libtiff prints errors that name no file (a failed write: "_tiffWriteProc: File too large.") straight
    to stderr, past GDAL. GDAL keeps its own handler for each file it opens, so rasterio's private libtiff
    (Linux wheels, ``rasterio.libs``) gets no global one; a system libtiff (QGIS's) is left alone."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            private = {line.split()[-1] for line in maps if "rasterio.libs/libtiff" in line}
    except OSError:  # not Linux
        return
    for library in private:
        ctypes.CDLL(library).TIFFSetErrorHandler(None)


if "CPL_LOG" not in os.environ:
    _silence_private_libtiff()
logging.getLogger("rasterio").addHandler(logging.NullHandler())  # rasterio's copies, unless logging is set up


def _pyogrio() -> ModuleType:
    """pyogrio, with its raw reader and writer and its errors (it imports pyproj where installed)."""
    with pyproj_data_warning_hidden():
        import pyogrio
        import pyogrio.errors
        import pyogrio.raw
    return pyogrio


class RasterioFile(RasterFile):
    """An input raster opened with rasterio."""

    def __init__(self, path: Path | str, io: "RasterioIO", require_crs: bool = True) -> None:
        try:
            with warnings.catch_warnings(), rasterio.Env(**formats.gdal_config()):
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a missing CRS: FloodSAR's message below
                self._ds = rasterio.open(path)
        except RasterioIOError as exc:
            raise not_a_raster(path, str(exc).split(": ")[-1] if ": " in str(exc) else "") from exc
        try:
            if self._ds.count == 0:
                raise not_a_raster(path, NO_BANDS)
            if any(np.dtype(dtype).kind == "c" for dtype in self._ds.dtypes):
                raise complex_data(path)
            self.path = path
            self.count = self._ds.count
            self.descriptions = tuple(d or "" for d in self._ds.descriptions)
            self.nodata = tuple(self._ds.nodatavals)
            crs = self._ds.crs.to_wkt() if self._ds.crs else ""
            self.grid = input_grid(io, path, self._ds.width, self._ds.height, crs,
                                   self._ds.transform.to_gdal(), len(self._ds.gcps[0]), require_crs)
        except BaseException:
            self._ds.close()
            raise

    def _read(self, bands: Sequence[int], row0: int, col0: int, row1: int, col1: int) -> np.ndarray:
        window = Window(col0, row0, col1 - col0, row1 - row0)
        try:
            return self._ds.read(list(bands), window=window, out_dtype="float32")
        except (RasterioError, CPLE_BaseError) as exc:
            raise unreadable_pixels(self.path, _gdal_reason(exc)) from exc

    def close(self) -> None:
        self._ds.close()


def _gdal_reason(exc: Exception) -> str:
    """GDAL's own words for a failure (rasterio chains them as the cause)."""
    cause = exc.__cause__ or exc.__context__
    return str(cause or exc)


class WarpedRasterioFile(RasterioFile):
    """A raster reprojected on the fly onto another grid (GDAL warped VRT): each window read
    warps only the source pixels it needs. Float32, NaN outside the source and at its nodata."""

    def __init__(self, path: Path, io: "RasterioIO", grid: RasterGrid, resampling: str) -> None:
        super().__init__(path, io)
        self._source = self._ds
        self._ds = WarpedVRT(self._source, crs=CRS.from_wkt(grid.crs_wkt),
                             transform=rasterio.Affine.from_gdal(*grid.transform), width=grid.width,
                             height=grid.height, resampling=Resampling[resampling], dtype="float32",
                             nodata=float("nan"))
        self.grid = grid
        self.nodata = (float("nan"),) * self.count

    def close(self) -> None:
        self._ds.close()
        self._source.close()


class RasterioGeoTiff(GeoTiffWriter):
    def __init__(self, path: Path, grid: RasterGrid, dtype: str, nodata: float | None, colours: Colours | None,
                 descriptions: Sequence[str], options: dict[str, str] | None = None) -> None:
        with rasterio.Env(**formats.gdal_config()):
            self._ds = rasterio.open(path, "w", driver="GTiff", width=grid.width, height=grid.height,
                                     count=len(descriptions), dtype=dtype, nodata=nodata, crs=CRS.from_wkt(grid.crs_wkt),
                                     transform=rasterio.Affine.from_gdal(*grid.transform),
                                     **formats.creation_options(dtype, options))
        if colours:
            self._ds.write_colormap(1, colours)
        for band, description in enumerate(descriptions, start=1):
            self._ds.set_band_description(band, description)

    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        height, width = array.shape[-2:]
        self._ds.write(array, 1 if array.ndim == 2 else None, window=Window(col_off, row_off, width, height))

    def close(self) -> None:
        self._ds.close()


@dataclass
class RasterioIO(RasterIO):
    """:class:`.raster_io.RasterIO` through rasterio (polygons written with pyogrio, ``polygon_batch`` at a time)."""

    polygon_batch: int = 20000
    name = "rasterio"
    write_errors = (RasterioError, CPLE_BaseError, OSError)

    def _open(self, path: Path | str, require_crs: bool = True) -> RasterioFile:
        return RasterioFile(path, self, require_crs)

    def crs_units(self, crs_wkt: str) -> tuple[bool, float | None]:
        try:
            crs = CRS.from_wkt(crs_wkt)
            return (True, None) if crs.is_geographic else (False, float(crs.linear_units_factor[1]))
        except CRSError:
            return False, None

    def crs_wkt(self, definition: str) -> str:
        return CRS.from_user_input(definition).to_wkt()

    def same_crs(self, wkt_a: str, wkt_b: str) -> bool:
        return wkt_a == wkt_b or CRS.from_wkt(wkt_a) == CRS.from_wkt(wkt_b)

    def create_geotiff(self, path: Path, grid: RasterGrid, dtype: str, nodata: float | None,
                       colours: Colours | None, descriptions: Sequence[str],
                       options: dict[str, str] | None = None) -> RasterioGeoTiff:
        return RasterioGeoTiff(path, grid, dtype, nodata, colours, descriptions, options)

    def add_overviews(self, path: Path, factors: list[int], resampling: str) -> None:
        if not factors:
            return
        with rasterio.Env(**formats.gdal_config()), rasterio.open(path, "r+") as ds:
            ds.build_overviews(factors, Resampling[resampling])
        with rasterio.open(path) as ds:
            if len(ds.overviews(1)) != len(factors):
                raise OSError("the overviews were not saved")

    def stored_blocks(self, path: Path) -> list[tuple[int | None, int | None]]:
        with rasterio.open(path) as ds:
            levels = len(ds.overviews(1))
        blocks = []
        for level in [None, *range(levels)]:
            with rasterio.open(path, **({} if level is None else {"overview_level": level})) as ds:
                (block_height, block_width), = ds.block_shapes[:1]
                for offset, size in block_items(ds.width, ds.height, block_width, block_height):
                    blocks.append(tuple(_integer(ds.get_tag_item(item, "TIFF", bidx=1)) for item in (offset, size)))
        return blocks

    def polygonize_water(self, mask_path: Path, gpkg_path: Path, classes: bool = False) -> int:
        """pyogrio's write errors (a full disk) come out as OSError."""
        pyogrio = _pyogrio()
        try:
            return self._polygonize(mask_path, gpkg_path, classes, pyogrio.raw.write)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise OSError(str(exc).strip().splitlines()[0]) from exc

    def _polygonize(self, mask_path: Path, gpkg_path: Path, classes: bool, write_layer: Callable) -> int:
        layer, lut = formats.polygon_layer(classes)
        with RasterioFile(mask_path, self) as mask, \
                rasterio.open(formats.lut_vrt(mask_path, mask.grid, lut)) as water:
            grid, crs = mask.grid, mask._ds.crs
            lon, lat = rasterio.warp.transform(crs, CRS.from_epsg(4326), *([v] for v in grid.centre))
            equal_area = CRS.from_proj4(equal_area_proj4(lon[0], lat[0]))
            shapes = rasterio.features.shapes(rasterio.band(water, 1), mask=rasterio.band(water, 1), connectivity=4,
                                              transform=rasterio.Affine.from_gdal(*grid.transform))
            count = 0
            polygons: list[list[np.ndarray]] = []
            values: list[int] = []

            def flush() -> None:
                areas = _areas(polygons, crs, equal_area) if polygons else np.zeros(0)
                fields = [formats.AREA_FIELD] + ([formats.CLASS_FIELD] if classes else [])
                columns = [areas] + ([np.array(values, dtype=np.int32)] if classes else [])
                write_layer(gpkg_path, np.array([_polygon_wkb(p) for p in polygons], dtype=object),
                            columns, fields=fields, layer=layer,
                            driver="GPKG", geometry_type="Polygon", crs=grid.crs_wkt,
                            append=count > len(polygons), dataset_options={"VERSION": formats.GPKG_VERSION})
                polygons.clear()
                values.clear()

            for geom, value in shapes:
                polygons.append([np.asarray(ring, dtype="<f8") for ring in geom["coordinates"]])
                values.append(int(value))
                count += 1
                if len(polygons) == self.polygon_batch:
                    flush()
            if polygons or count == 0:
                flush()
        return count

    def open_warped(self, path: Path, grid: RasterGrid, resampling: str) -> WarpedRasterioFile:
        return WarpedRasterioFile(path, self, grid, resampling)

    def transform_bounds(self, src_wkt: str, dst_wkt: str, bounds: tuple[float, float, float, float]
                         ) -> tuple[float, float, float, float]:
        return tuple(rasterio.warp.transform_bounds(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), *bounds))

    def vector_info(self, path: Path) -> tuple[str, tuple[float, float, float, float]]:
        info = _pyogrio().read_info(path, force_total_bounds=True)
        crs = CRS.from_user_input(info["crs"]).to_wkt() if info["crs"] else ""
        return crs, tuple(float(v) for v in info["total_bounds"])

    def rasterize_window(self, path: Path, layer_wkt: str, grid: RasterGrid, row_off: int, col_off: int,
                         height: int, width: int) -> np.ndarray:
        import shapely

        window_grid = grid.window(row_off, col_off, height, width)
        bounds = self.transform_bounds(grid.crs_wkt, layer_wkt, window_grid.bounds)
        _, _, wkb, _ = _pyogrio().raw.read(path, bbox=bounds, columns=[])
        out = np.zeros((height, width), dtype=np.uint8)
        if wkb is None or len(wkb) == 0:
            return out
        geoms = shapely.from_wkb(wkb)
        if not self.same_crs(layer_wkt, grid.crs_wkt):
            src, dst = CRS.from_wkt(layer_wkt), CRS.from_wkt(grid.crs_wkt)
            geoms = shapely.transform(geoms, lambda xy: np.column_stack(rasterio.warp.transform(src, dst, xy[:, 0],
                                                                                                 xy[:, 1])))
        shapes = [(geom, 1) for geom in geoms if geom is not None and not geom.is_empty]
        if shapes:
            rasterio.features.rasterize(shapes, out=out, transform=rasterio.Affine.from_gdal(*window_grid.transform))
        return out

    def read_tags(self, path: Path) -> dict[str, str]:
        with RasterioFile(path, self) as raster:
            return dict(raster._ds.tags())

    def check_vector_support(self) -> None:
        if importlib.util.find_spec("pyogrio") is None:
            raise FloodSarError("writing water polygons needs the pyogrio package; install it "
                                "(pip install pyogrio) or leave out the vector output.")

    def check_vector_reading(self, path: Path) -> None:
        missing = [name for name in ("pyogrio", "shapely") if importlib.util.find_spec(name) is None]
        if missing:
            raise FloodSarError(f"{path}: reading vector layers needs the Python package(s) {', '.join(missing)}; "
                                f"install them (pip install {' '.join(missing)}) or pass the layer as a raster.")

    def epsg_wkt(self, code: int) -> str:
        return CRS.from_epsg(code).to_wkt()

    def transform_points(self, src_wkt: str, dst_wkt: str, xs: Sequence[float], ys: Sequence[float]
                         ) -> tuple[np.ndarray, np.ndarray]:
        x, y = rasterio.warp.transform(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), list(xs), list(ys))
        return np.asarray(x), np.asarray(y)

    def gcp_transformer(self, gcps: Sequence[tuple[float, float, float, float]], crs_wkt: str
                        ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        points = [rasterio.control.GroundControlPoint(row=line, col=pixel, x=lon, y=lat)
                  for line, pixel, lon, lat in gcps]
        tps = rasterio.transform.GCPTransformer(points, tps=True)
        crs, wgs84 = CRS.from_wkt(crs_wkt), CRS.from_epsg(4326)

        def to_raster(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lon, lat = rasterio.warp.transform(crs, wgs84, list(xs), list(ys))
            lines, pixels = tps.rowcol(lon, lat, op=np.positive)  # a ufunc keeps the fractions
            return np.asarray(lines, dtype=float), np.asarray(pixels, dtype=float)

        return to_raster


def _integer(text: str | None) -> int | None:
    return None if text is None else int(text)


def _areas(polygons: list[list[np.ndarray]], src: CRS, equal_area: CRS) -> np.ndarray:
    """Areas of polygons (lists of closed rings, exterior first) after projecting to ``equal_area``."""
    rings = [ring for polygon in polygons for ring in polygon]
    lengths = np.array([len(ring) for ring in rings])
    xy = np.concatenate(rings)
    x, y = (np.asarray(v) for v in rasterio.warp.transform(src, equal_area, xy[:, 0], xy[:, 1]))
    cross = np.append(x[:-1] * y[1:] - x[1:] * y[:-1], 0.0)  # shoelace terms
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    cross[starts[1:] - 1] = 0.0  # a ring's last point and the next ring's first are not an edge
    ring_areas = np.abs(np.add.reduceat(cross, starts)) / 2
    holes_negative = np.concatenate([[1.0] + [-1.0] * (len(polygon) - 1) for polygon in polygons])
    owner = np.repeat(np.arange(len(polygons)), [len(polygon) for polygon in polygons])
    return np.bincount(owner, weights=holes_negative * ring_areas, minlength=len(polygons))


def _polygon_wkb(rings: list[np.ndarray]) -> bytes:
    """ISO WKB (little endian) for a polygon's coordinate rings."""
    parts = [struct.pack("<BII", 1, 3, len(rings))]
    for ring in rings:
        parts.append(struct.pack("<I", len(ring)))
        parts.append(ring[:, :2].tobytes())
    return b"".join(parts)
