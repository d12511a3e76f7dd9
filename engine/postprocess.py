"""Post-processing of a finished water mask: minimum mapping unit and water polygons."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from . import raster_io
from .errors import FloodSarError


def minimum_pixels(grid: raster_io.RasterGrid, min_area_m2: float) -> int:
    """Pixels in the minimum mapping unit (at least 1; pixel area taken at the raster centre)."""
    size = grid.pixel_size_m
    if size is None or min_area_m2 <= 0:
        return 1
    return max(1, math.ceil(min_area_m2 / size ** 2 - 1e-9))


def apply_minimum_mapping_unit(mask_path: str | Path, min_area_m2: float, io: str = "auto") -> None:
    """Merge water and dry patches smaller than ``min_area_m2`` into their largest neighbour, in place.

    Patches are 4-connected, as the polygons of :func:`write_water_polygons` are, so no water
    polygon is smaller than the unit. Nodata (255) is left as it is. Written to a temporary
    file, then renamed.
    """
    mask_path = Path(mask_path)
    with raster_io.open_raster(mask_path, io) as mask:
        pixels = minimum_pixels(mask.grid, min_area_m2)
    if pixels <= 1:
        return
    with raster_io.atomic_output(mask_path) as tmp:
        raster_io.backend(io).sieve_file(mask_path, tmp, pixels)


def write_water_polygons(mask_path: str | Path, gpkg_path: str | Path, io: str = "auto",
                         classes: bool = False) -> int:
    """Write the water (value 1) polygons of a mask to a GeoPackage; return the feature count.

    Layer 'water', same CRS as the mask, attribute ``area_m2``: true area, computed in a
    Lambert azimuthal equal-area projection centred on the raster. Polygons are 4-connected
    (pixels touching only at a corner are separate polygons), so every polygon is valid.
    ``classes`` (a flood class map): layer 'flood' with the flood (1) and reference water (2)
    polygons, each with its ``class`` and ``area_m2``.
    """
    mask_path, gpkg_path = Path(mask_path), Path(gpkg_path)
    check_vector_support(io)
    raster_io.check_exists(mask_path)
    with raster_io.atomic_output(gpkg_path) as tmp:
        return raster_io.backend(io).polygonize_water(mask_path, tmp, classes=classes)


def check_vector_support(io: str = "auto") -> None:
    """Refuse up front (call it before inference) when polygons cannot be written."""
    if raster_io.resolve_io(io) == "rasterio" and importlib.util.find_spec("pyogrio") is None:
        raise FloodSarError("writing water polygons needs the pyogrio package; install it "
                            "(pip install pyogrio) or leave out the vector output.")
