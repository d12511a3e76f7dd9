"""Post-processing of a finished water mask: minimum mapping unit and water polygons."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import outputs
from .errors import FloodSarError, OptionError
from .grid import RasterGrid
from .raster_io import RasterIO, check_exists
from .safe_write import atomic_output
from .sieve import MAX_PIXELS, sieve_raster


def minimum_pixels(grid: RasterGrid, min_area_m2: float) -> int:
    """Pixels in the minimum mapping unit (1 = none; pixel area taken at the raster centre).

    OptionError for a unit that cannot be applied: not a finite number, over half the raster (then no
    patch could take a larger neighbour's value), or over :data:`.sieve.MAX_PIXELS` (bounded memory).
    """
    if not math.isfinite(min_area_m2) or min_area_m2 < 0:
        raise OptionError("min_area_m2", min_area_m2,
                          f"{{min_area_m2}} must be a number of square metres, 0 or more, not {min_area_m2}")
    size = grid.pixel_size_m
    if size is None or min_area_m2 == 0:
        return 1
    pixels = max(1, math.ceil(min_area_m2 / size ** 2 - 1e-9))
    half = grid.width * grid.height // 2
    if pixels > half:
        raise OptionError(
            "min_area_m2", min_area_m2,
            f"{{min_area_m2}} of {min_area_m2:g} m2 is {pixels} pixels of about {size:.1f} m, more than half the "
            f"raster ({grid.width} x {grid.height} pixels): no patch could be merged into a larger one",
            f"use at most {half * size ** 2:.0f} m2")
    if pixels > MAX_PIXELS:
        raise OptionError(
            "min_area_m2", min_area_m2,
            f"{{min_area_m2}} of {min_area_m2:g} m2 is {pixels} pixels of about {size:.1f} m, more than FloodSAR's "
            f"limit of {MAX_PIXELS} pixels (the memory of the sieve grows with it)",
            f"use at most {MAX_PIXELS * size ** 2:.0f} m2, or merge larger patches in GIS afterwards")
    return pixels


def sieve_mask(src: Path, dst: Path, final: Path, grid: RasterGrid, pixels: int, io: RasterIO, kind: str = "mask",
               on_block: Optional[Callable[[np.ndarray], None]] = None) -> None:
    """Write the ``src`` mask (or class map) into ``dst`` with patches under ``pixels`` given the value
    around them (:mod:`.sieve`, block by block in bounded memory).

    ``dst`` is given overviews and checked like every output (``final`` names it in errors);
    ``on_block`` also receives each sieved block as it is written. Patches are
    4-connected, as the polygons of :func:`write_water_polygons` are, so no water polygon is smaller
    than the unit. Nodata (255) is left as it is.
    """
    dtype, nodata, colours, description, _ = outputs.KINDS[kind]
    try:
        writer = io.create_geotiff(dst, grid, dtype, nodata, colours, [description])

        def write(row: int, col: int, block: np.ndarray) -> None:
            writer.write(row, col, block)
            if on_block is not None:
                on_block(block)

        try:
            with io.open_raster(src) as mask:
                sieve_raster(mask, pixels, write)
        finally:
            writer.close()
    except io.write_errors as exc:
        raise outputs.write_error(final, exc) from exc
    outputs.finish_geotiff(dst, final, grid, kind, io)


def apply_minimum_mapping_unit(mask_path: str | Path, min_area_m2: float, io: RasterIO) -> None:
    """Give water and dry patches smaller than ``min_area_m2`` the value around them, in place (:mod:`.sieve`)."""
    mask_path = Path(mask_path)
    with io.open_raster(mask_path) as mask:
        grid = mask.grid
    pixels = minimum_pixels(grid, min_area_m2)
    if pixels <= 1:
        return
    with atomic_output(mask_path) as tmp:
        sieve_mask(mask_path, tmp, mask_path, grid, pixels, io)


def polygonize(mask_path: Path, gpkg_path: Path, final: Path, io: RasterIO, classes: bool = False) -> int:
    """Write the water polygons of a mask (``classes``: of a flood class map) into ``gpkg_path`` (``final``
    names it in errors); the count."""
    try:
        return io.polygonize_water(mask_path, gpkg_path, classes=classes)
    except io.write_errors as exc:
        raise FloodSarError(f"{final}: could not write the water polygons ({exc}); nothing was saved: "
                            "check free disk space and permissions.") from exc


def write_water_polygons(mask_path: str | Path, gpkg_path: str | Path, io: RasterIO,
                         classes: bool = False) -> int:
    """Write the water (value 1) polygons of a mask to a GeoPackage; return the feature count.

    Layer 'water', same CRS as the mask, attribute ``area_m2``: true area, computed in a
    Lambert azimuthal equal-area projection centred on the raster. Polygons are 4-connected
    (pixels touching only at a corner are separate polygons), so every polygon is valid.
    ``classes`` (a flood class map): layer 'flood' with the flood (1) and reference water (2)
    polygons, each with its ``class`` and ``area_m2``.
    """
    mask_path, gpkg_path = Path(mask_path), Path(gpkg_path)
    io.check_vector_support()
    check_exists(mask_path)
    with atomic_output(gpkg_path) as tmp:
        return polygonize(mask_path, tmp, gpkg_path, io, classes)

