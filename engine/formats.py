"""What FloodSAR's files look like: GeoTIFF creation options and overviews, the polygons'
GeoPackage layer, and a VRT that views a mask through a lookup table. Shared by both raster
I/O implementations."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from .grid import RasterGrid
from .mask_encoding import FLOOD_CLASSES_LUT, WATER_LUT

#: GeoTIFF creation options for every raster FloodSAR writes (predictor added per data type).
GTIFF_OPTIONS = {"TILED": "YES", "BLOCKXSIZE": "512", "BLOCKYSIZE": "512",
                 "COMPRESS": "DEFLATE", "BIGTIFF": "IF_SAFER"}
PREDICTOR = {"uint8": "2", "float32": "3"}
#: Overviews are built down to this size (pixels on the longer side).
OVERVIEW_MIN_SIZE = 256
#: GDAL's threads in this process, set when a file is opened or created: decoding an input's blocks (each tile's
#: read decodes its blocks in parallel), compressing an output's (a fast GPU leaves the engine's threads no time
#: for either) and building overviews (full scene: 1.2 -> 0.9 s on 2 cores). Every core, unless
#: :func:`gdal_threads` shares them out among processes (Dask workers on one machine).
_gdal_threads = "ALL_CPUS"
#: The polygons: layer names (water mask, flood class map), area and class attributes.
WATER_LAYER = "water"
FLOOD_LAYER = "flood"
AREA_FIELD = "area_m2"
CLASS_FIELD = "class"
#: GeoPackage 1.2 opens without warnings in the GDAL of QGIS 3.22 and later.
GPKG_VERSION = "1.2"


def gdal_config() -> dict[str, str]:
    """GDAL configuration to set while a file is opened or created: its threads."""
    return {"GDAL_NUM_THREADS": _gdal_threads}


@contextlib.contextmanager
def gdal_threads(threads: int | None) -> Iterator[None]:
    """While inside, files opened or created in this process use ``threads`` GDAL threads (None: every core)."""
    global _gdal_threads
    previous, _gdal_threads = _gdal_threads, str(threads) if threads else "ALL_CPUS"
    try:
        yield
    finally:
        _gdal_threads = previous


def creation_options(dtype: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """GeoTIFF creation options for ``dtype``: the engine's, with ``extra`` added or overriding."""
    return {**GTIFF_OPTIONS, "PREDICTOR": PREDICTOR[dtype], **(extra or {})}


def overview_factors(grid: RasterGrid) -> list[int]:
    """Overview decimation factors 2, 4, 8... until the longer side drops to OVERVIEW_MIN_SIZE."""
    factors = []
    while max(grid.width, grid.height) / 2 ** (len(factors) + 1) >= OVERVIEW_MIN_SIZE:
        factors.append(2 ** (len(factors) + 1))
    return factors


def polygon_layer(classes: bool) -> tuple[str, str]:
    """(layer name, LUT) of the polygons of a water mask, or of a flood class map (flood and reference water)."""
    return (FLOOD_LAYER, FLOOD_CLASSES_LUT) if classes else (WATER_LAYER, WATER_LUT)


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
