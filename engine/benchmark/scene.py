"""Generated Sentinel-1-like rasters: 2-band float32 dB GeoTIFFs (VV, VH) at 10 m in UTM.

Water shapes plus speckle, written block by block through the engine's raster I/O, so that a
16,000 px raster needs no more memory than a 512 px one.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import FloodSarError
from ..formats import GTIFF_OPTIONS
from ..io_choice import choose_io
from ..raster_io import RasterIO
from ..safe_write import atomic_output

# 10 m pixels in UTM 33N, mean backscatter (dB) of water and land for VV and VH,
# speckle of a 4-look intensity product drawn once into a few blocks and reused.
CRS, PIXEL_M, ORIGIN = "EPSG:32633", 10.0, (500_000.0, 5_000_000.0)
WATER_DB, LAND_DB = (-20.0, -27.0), (-8.0, -15.0)
LOOKS, SPECKLE_BLOCKS = 4, 4
BLOCK = int(GTIFF_OPTIONS["BLOCKXSIZE"])
#: Fast compression for the inputs (speckle hardly compresses anyway), on every core.
INPUT_OPTIONS = {"ZLEVEL": "1", "NUM_THREADS": "ALL_CPUS"}

Say = Callable[[str], None]


def speckle_bank(seed: int = 0) -> np.ndarray:
    """float32 [SPECKLE_BLOCKS, 2, BLOCK, BLOCK]: speckle in dB (gamma-distributed intensity, mean 1)."""
    rng = np.random.default_rng(seed)
    bank = rng.standard_gamma(LOOKS, size=(SPECKLE_BLOCKS, 2, BLOCK, BLOCK), dtype=np.float32)
    np.log10(bank / LOOKS, out=bank)
    return np.multiply(bank, 10.0, out=bank)


def scene_db(row: int, col: int, height: int, width: int, bank: np.ndarray) -> np.ndarray:
    """float32 [2, height, width] VV, VH in dB of the generated scene at a pixel window.

    Water is a meandering river every 1,000 rows and a round lake in every 700 x 700 px cell (the
    first one within 256 px of the origin); the rest is land.
    """
    rows = np.arange(row, row + height)
    cols = np.arange(col, col + width)
    r, c = rows[:, None].astype(np.float32), cols[None, :].astype(np.float32)
    river = np.abs((r + 150.0 * np.sin(c / 230.0)) % 1000.0 - 500.0) < 30.0
    lake = (r % 700.0 - 150.0) ** 2 + (c % 700.0 - 150.0) ** 2 < 100.0 ** 2
    water = river | lake
    mean = np.where(water, np.array(WATER_DB, np.float32)[:, None, None],
                    np.array(LAND_DB, np.float32)[:, None, None])
    noise = bank[(row // BLOCK * 3 + col // BLOCK) % len(bank)]
    return (mean + noise[:, rows % BLOCK][:, :, cols % BLOCK]).astype(np.float32)


def generate_raster(path: Path, width: int, height: int, seed: int = 0, io: RasterIO | None = None) -> Path:
    """Write the generated scene as a tiled, compressed GeoTIFF, one 512 px block at a time."""
    io = io or choose_io()
    bank = speckle_bank(seed)
    grid = io.grid(width, height, io.crs_wkt(CRS), (ORIGIN[0], PIXEL_M, 0.0, ORIGIN[1], 0.0, -PIXEL_M))
    with atomic_output(path) as tmp:
        writer = io.create_geotiff(tmp, grid, "float32", None, None, ["VV", "VH"], INPUT_OPTIONS)
        try:
            for row in range(0, height, BLOCK):
                for col in range(0, width, BLOCK):
                    writer.write(row, col, scene_db(row, col, min(BLOCK, height - row), min(BLOCK, width - col), bank))
        except BaseException:
            writer.close()
            raise
        writer.close()
    return path


def raster_for(size: int, workdir: Path, say: Say, height: int | None = None) -> Path:
    """The generated raster, ``size`` px wide and ``height`` (default ``size``) high, in ``workdir`` (reused
    when a previous run left it)."""
    height = size if height is None else height
    path = workdir / (f"benchmark_{size}.tif" if height == size else f"benchmark_{size}x{height}.tif")
    if path.is_file():
        with contextlib.suppress(FloodSarError), choose_io().open_raster(path) as raster:
            if (raster.grid.width, raster.grid.height, raster.count) == (size, height, 2):
                return path
    say(f"generating a {size} x {height} px raster in {workdir}")
    started = time.perf_counter()
    generate_raster(path, size, height)
    say(f"  {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")
    return path
