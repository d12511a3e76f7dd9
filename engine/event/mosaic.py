"""The event mosaic: every scene's map on one common grid, combined, and counted once.

Grid: the CRS of the first scene (or one the user chooses), the first scene's pixel size
(its pixels are copied unchanged when it is already in that CRS), and the union of all
scenes' footprints, aligned to the first scene's pixel corners.

Files (written with rasterio's GDAL, block by block, memory bounded by the block size
times the number of scenes overlapping a block):
- ``EVENT.vrt``: a stack, one band per scene (as ``gdalbuildvrt -separate``), each band the
  scene's map warped onto the event grid (nearest neighbour; per-scene warped VRTs live
  in ``EVENT_scenes/``). Nothing is combined there: load it to compare scenes.
- ``EVENT.tif``: a Cloud Optimized GeoTIFF of the combined map, with the scenes' encoding.

Combination rules, pixel by pixel (nodata only where no scene has data):

- **Water masks** (0 dry, 1 water): **water where any scene saw water**, dry where some scene
  has data and none saw water. A flood seen on one date stays on the map although a later
  pass saw the water gone; the order of the scenes does not matter.
- **Flood class maps** (0 dry, 1 flood, 2 reference water, 3 excluded): **the latest scene
  with data decides** (its class, whichever it is), so a receding flood shows its latest state.
  Dates come from the file names, else the raster tags (:mod:`.dates`); scenes without a date
  count as older than every dated scene, and among themselves the later given wins.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np

from .. import outputs
from ..errors import FloodSarError
from ..formats import GTIFF_OPTIONS
from ..grid import METRES_PER_DEGREE, RasterGrid
from ..io_choice import choose_io
from ..mask_encoding import CLASS_NAMES, DRY, NODATA, WATER
from ..safe_write import StagedOutputs
from ..tiling import Window, plan_tiles
from .vrt import StackBand, write_stack, write_warped

#: Refuse a mosaic over this many times the pixels its scenes cover (scenes of different events).
MAX_SPREAD = 100
#: Side of the blocks the mosaic is combined in (the GeoTIFF tile size).
BLOCK = int(GTIFF_OPTIONS["BLOCKXSIZE"])


#: The classes of a water mask (a class map's are :data:`~..mask_encoding.CLASS_NAMES`).
WATER_NAMES: Mapping[int, str] = {DRY: "dry", WATER: "water"}


@dataclass
class AreaTally:
    """Areas in km2 per class (``names``: value -> name); valid = every class."""

    names: Mapping[int, str]
    km2: dict[int, float] = field(default_factory=dict)

    def add(self, block: np.ndarray, row_km2: np.ndarray) -> None:
        """Add a [rows, cols] block of map values, each row's pixels being ``row_km2`` km2 each."""
        for value in self.names:
            self.km2[value] = self.km2.get(value, 0.0) + float(np.count_nonzero(block == value, axis=1) @ row_km2)

    @property
    def valid(self) -> float:
        return sum(self.km2.values())

    def area(self, value: int) -> float:
        return self.km2.get(value, 0.0)

    def as_dict(self) -> dict[str, float]:
        """{"dry_km2": ..., "water_km2" (or "flood_km2", "reference_water_km2", ...): ..., "valid_km2": ...}."""
        areas = {f"{name.replace(' ', '_')}_km2": round(self.area(value), 6) for value, name in self.names.items()}
        return {**areas, "valid_km2": round(self.valid, 6)}


@dataclass
class EventAreas:
    """Areas on the event grid: each scene's own, and the event's with overlaps counted once."""

    scenes: list[AreaTally]
    event: AreaTally
    grid: RasterGrid
    classes: bool  # flood class maps (combined latest first), else water masks (water where any)


def row_areas_km2(grid: RasterGrid, row_off: int, rows: int) -> np.ndarray:
    """The area in km2 of one pixel in each of ``rows`` rows from ``row_off`` (latitude-aware in degrees)."""
    x0, dx, rx, y0, ry, dy = grid.transform
    metres_per_unit = grid.metres_per_unit
    if grid.geographic:
        latitudes = y0 + dy * (row_off + np.arange(rows) + 0.5)
        metres = METRES_PER_DEGREE ** 2 * np.cos(np.radians(np.clip(latitudes, -90, 90)))
        return abs(dx * dy) * metres / 1e6
    if metres_per_unit is None:
        raise FloodSarError("the mosaic CRS has unknown units, so areas cannot be computed; "
                            "choose a projected CRS with --mosaic-crs (e.g. EPSG:3857 or a UTM zone).")
    return np.full(rows, abs(dx * dy) * metres_per_unit ** 2 / 1e6)


def event_grid(masks: Sequence[Path], crs: Optional[str] = None) -> RasterGrid:
    """The common grid of ``masks`` (see the module doc); ``crs``: any CRS text rasterio understands."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.errors import CRSError
    from rasterio.warp import calculate_default_transform, transform_bounds

    with rasterio.open(masks[0]) as first:
        try:
            target = CRS.from_user_input(crs) if crs else first.crs
        except CRSError as exc:
            raise FloodSarError(f"--mosaic-crs {crs}: not a CRS ({exc}); give e.g. EPSG:32633.") from exc
        origin = first.transform
        if target != first.crs:
            origin, _, _ = calculate_default_transform(first.crs, target, first.width, first.height, *first.bounds)
    size_x, size_y = abs(origin.a), abs(origin.e)
    bounds = []
    for path in masks:
        with rasterio.open(path) as mask:
            bounds.append(transform_bounds(mask.crs, target, *mask.bounds, densify_pts=21))
    west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
    east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
    col0 = math.floor((west - origin.c) / size_x + 1e-6)
    col1 = math.ceil((east - origin.c) / size_x - 1e-6)
    row0 = math.floor((origin.f - north) / size_y + 1e-6)
    row1 = math.ceil((origin.f - south) / size_y - 1e-6)
    transform = (origin.c + col0 * size_x, size_x, 0.0, origin.f - row0 * size_y, 0.0, -size_y)
    return choose_io("rasterio").grid(col1 - col0, row1 - row0, target.to_wkt(), transform)


def scene_window(grid: RasterGrid, mask: Path) -> Window:
    """The pixels of ``grid`` that ``mask``'s footprint covers."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    with rasterio.open(mask) as source:
        west, south, east, north = transform_bounds(source.crs, CRS.from_wkt(grid.crs_wkt), *source.bounds,
                                                    densify_pts=21)
    x0, size_x, _, y0, _, size_y = grid.transform
    col0, col1 = math.floor((west - x0) / size_x + 1e-6), math.ceil((east - x0) / size_x - 1e-6)
    row0, row1 = math.floor((y0 - north) / -size_y + 1e-6), math.ceil((y0 - south) / -size_y - 1e-6)
    col0, row0 = max(col0, 0), max(row0, 0)
    return Window(row0, col0, min(row1, grid.height) - row0, min(col1, grid.width) - col0)


def _overlaps(a: Window, b: Window) -> bool:
    return a.row < b.row + b.height and b.row < a.row + a.height and a.col < b.col + b.width and \
        b.col < a.col + a.width


def write_stack_vrt(names: Sequence[str], masks: Sequence[Path], grid: RasterGrid, vrt: Path) -> None:
    """Write ``vrt`` (one band per scene on ``grid``) and its per-scene warped VRTs in ``VRT-stem_scenes/``."""
    folder = vrt.with_name(f"{vrt.stem}_scenes")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    bands = []
    for name, mask in zip(names, masks):
        write_warped(mask, grid, folder / f"{name}.vrt", "nearest", NODATA)
        bands.append(StackBand(name, "Byte", NODATA, [(Path(folder.name) / f"{name}.vrt", 1)]))
    write_stack(vrt, grid, bands)


def latest_last(dates: Sequence[Optional[str]]) -> list[int]:
    """Scene indices oldest first (undated ones before dated ones, in their given order)."""
    return sorted(range(len(dates)), key=lambda i: (dates[i] is not None, dates[i] or ""))


def _combined(data: np.ndarray, classes: bool) -> np.ndarray:
    """One block of the mosaic from the [scenes, rows, cols] ``data`` of the scenes covering it, oldest first."""
    combined = np.full(data.shape[1:], NODATA, dtype=np.uint8)
    if classes:
        for scene in data:  # each later scene overwrites where it has data
            combined = np.where(scene != NODATA, scene, combined)
        return combined
    combined[(data != NODATA).any(axis=0)] = DRY
    combined[(data == WATER).any(axis=0)] = WATER
    return combined


def combine(vrt: Path, windows: Sequence[Window], output: Optional[Path], dates: Sequence[Optional[str]],
            classes: bool) -> EventAreas:
    """Combine the stack ``vrt`` block by block into ``output`` (a COG; None = count areas only) by the
    rule for water masks or, with ``classes``, flood class maps (``dates``: each scene's, see :mod:`.dates`)."""
    import rasterio

    names = CLASS_NAMES if classes else WATER_NAMES
    order = latest_last(dates)
    with rasterio.open(vrt) as stack:
        grid = choose_io("rasterio").grid(stack.width, stack.height, stack.crs.to_wkt(), stack.transform.to_gdal())
        areas = EventAreas([AreaTally(names) for _ in windows], AreaTally(names), grid, classes)
        with _cog_writer(output, grid, classes) as writer:
            for block in (tile.core for tile in plan_tiles(grid.height, grid.width, BLOCK, 0)):
                bands = [i for i in order if _overlaps(windows[i], block)]
                combined = np.full((block.height, block.width), NODATA, dtype=np.uint8)
                if bands:
                    data = stack.read([i + 1 for i in bands],
                                      window=((block.row, block.row + block.height),
                                              (block.col, block.col + block.width)))
                    row_km2 = row_areas_km2(grid, block.row, block.height)
                    for i, scene in zip(bands, data):
                        areas.scenes[i].add(scene, row_km2)
                    combined = _combined(data, classes)
                    areas.event.add(combined, row_km2)
                if writer is not None:
                    writer.write(block.row, block.col, combined)
    return areas


@contextlib.contextmanager
def _cog_writer(path: Optional[Path], grid: RasterGrid, classes: bool) -> Iterator[Optional[outputs.OutputWriter]]:
    """The engine's mask writer to a hidden tiled GeoTIFF, copied to a COG at ``path`` when complete."""
    if path is None:
        yield None
        return
    import rasterio.shutil

    with StagedOutputs() as staged:  # both files are temporary until the COG is complete
        with outputs.open_output(path, grid, "classes" if classes else "mask", io=choose_io("rasterio"),
                                 staged=staged) as writer:
            yield writer
        tiled = writer.temporary
        rasterio.shutil.copy(tiled, staged.temporary(path), driver="COG", COMPRESS="DEFLATE", PREDICTOR="2",
                             BIGTIFF="IF_SAFER", OVERVIEW_RESAMPLING="NEAREST")


def check_spread(grid: RasterGrid, windows: Sequence[Window]) -> None:
    """Refuse a mosaic mostly made of empty space (scenes from places far apart)."""
    covered = sum(w.height * w.width for w in windows)
    if grid.width * grid.height > MAX_SPREAD * max(covered, 1):
        raise FloodSarError(
            f"the scenes lie far apart: their mosaic would be {grid.width} x {grid.height} pixels for "
            f"{covered} pixels of scenes (the scene masks are written); map one event's scenes at a time, "
            "or leave out --mosaic and --report.")


def build_mosaic(names: Sequence[str], maps: Sequence[Path], dates: Sequence[Optional[str]], classes: bool,
                 vrt: Path, cog: Optional[Path], crs: Optional[str] = None) -> EventAreas:
    """Write the stack ``vrt`` of the scene ``maps`` and (with ``cog``) the combined COG; return the areas.
    ``classes``: the maps are flood class maps; ``dates``: each scene's acquisition date or None."""
    grid = event_grid(maps, crs)
    windows = [scene_window(grid, path) for path in maps]
    check_spread(grid, windows)
    write_stack_vrt(names, maps, grid, vrt)
    return combine(vrt, windows, cog, dates, classes)


def remove_stack(vrt: Path) -> None:
    """Delete a stack VRT and its per-scene VRTs."""
    shutil.rmtree(vrt.with_name(f"{vrt.stem}_scenes"), ignore_errors=True)
    if vrt.exists():
        os.unlink(vrt)
