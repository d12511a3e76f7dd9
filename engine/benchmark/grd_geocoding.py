"""What terrain-corrected geocoding of a GRD costs against ellipsoid geocoding, measured in one run.

``python -m floodsar.engine.benchmark.grd_geocoding`` copies the real-geometry GRD corner
(tests/fixtures/s1_grd_corner: 2004 x 1291 px, orbit and timing of a real product) into a temporary
folder with random digital numbers, writes a DEM of hills (0-2000 m, 30 m pixels) over it, and reads
the whole output grid (1734 x 2298 px at 10 m) as the engine does, in its blocks and in model tiles:
calibrated, noise-removed and geocoded sigma0, once on the ellipsoid and once with the DEM,
alternately, REPEATS times. It prints seconds per million output pixels of each and their ratio,
and the machine.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine

from ..io_choice import choose_io
from ..products import resolve
from ..products.grd import BLOCK
from .machine import machine_info

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "s1_grd_corner"
REPEATS = 3
#: How the grid is read: engine blocks, and 512 px model tiles with 64 px of overlap each side.
READS = (("blocks of 1024 px", BLOCK, BLOCK), ("windows of 640 px every 512 px", 640, 512))


def _write(path: Path, data: np.ndarray, **profile) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # measurements have none, as in real products
        with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                           dtype=data.dtype, **profile) as out:
            out.write(data, 1)


def _product(folder: Path) -> Path:
    """The corner product with random DNs (2004 x 1291 px) in ``folder``."""
    safe = next(FIXTURE.glob("*.SAFE"))
    copy = folder / safe.name
    shutil.copytree(safe, copy)
    (copy / "measurement").mkdir()
    rng = np.random.default_rng(0)
    for annotation in (copy / "annotation").glob("s1*.xml"):
        _write(copy / "measurement" / f"{annotation.stem}.tiff", rng.integers(20, 400, (2004, 1291), np.uint16))
    return copy


def _hills(folder: Path, grid) -> Path:
    """Hills 0-2000 m high and 3 km apart over the grid, 30 m pixels, in its CRS."""
    rows, cols = grid.height // 3 + 2, grid.width // 3 + 2
    y, x = np.mgrid[0:rows, 0:cols] * 30.0
    heights = (1000 + 1000 * np.sin(x / 3000 * np.pi) * np.cos(y / 3000 * np.pi)).astype(np.float32)
    x0, _, _, y0, _, _ = grid.transform
    path = folder / "hills.tif"
    _write(path, heights, crs=grid.crs_wkt, transform=Affine(30.0, 0, x0 - 30, 0, -30.0, y0 + 30))
    return path


def _read_all(raster, size: int, step: int) -> float:
    """Seconds to read the whole grid in windows of ``size`` px every ``step`` px."""
    started = time.perf_counter()
    for row in range(0, raster.grid.height, step):
        for col in range(0, raster.grid.width, step):
            height, width = min(size, raster.grid.height - row), min(size, raster.grid.width - col)
            raster.read_window([1, 2], row, col, height, width)
    return time.perf_counter() - started


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    io = choose_io()
    with tempfile.TemporaryDirectory() as tmp:
        safe = _product(Path(tmp))
        ellipsoid = resolve([safe], io).raster
        terrain = resolve([safe], io, dem=_hills(Path(tmp), ellipsoid.grid)).raster
        megapixels = ellipsoid.grid.width * ellipsoid.grid.height / 1e6
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(REPEATS):
            for reads, size, step in READS:
                for name, raster in (("ellipsoid", ellipsoid), ("terrain", terrain)):
                    times.setdefault((reads, name), []).append(_read_all(raster, size, step))
        ellipsoid.close()
        terrain.close()
    print(f"output grid {megapixels:.1f} Mpx, VV + VH, best of {REPEATS}; seconds per million output pixels:")
    for reads, _, _ in READS:
        best = {name: min(times[(reads, name)]) / megapixels for name in ("ellipsoid", "terrain")}
        print(f"{reads}: ellipsoid {best['ellipsoid']:.2f}, terrain-corrected {best['terrain']:.2f} "
              f"({best['terrain'] / best['ellipsoid']:.1f}x)")
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['usable_cores']} usable cores, load average {info['load_average']:.1f}")


if __name__ == "__main__":
    main()
