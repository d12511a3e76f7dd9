"""Sliding-window arithmetic: which windows to read, and which part of each one to keep.

A raster of ``height`` x ``width`` pixels is cut into *cores* that partition it: every
pixel lies in exactly one core. Each core is read with ``overlap`` extra pixels of
context on every side (a *read window*, possibly reaching outside the raster, where the
reader fills nodata). Read windows are a multiple of the model's stride and no larger than
the raster needs: a raster smaller than a tile gets one small tile. With ``trim_edges`` the
tiles of the last row and column are also only as large as their cores need, so the model
does not run on padding (on a CPU); without it every tile has one shape (on a GPU, where
runtimes prepare each new input shape: TensorRT engines, cuDNN's algorithm search).
Pure integer arithmetic: no I/O, no numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from .errors import OptionError


@dataclass(frozen=True)
class Window:
    """A pixel window: top-left (row, col) and size; may reach outside the raster."""

    row: int
    col: int
    height: int
    width: int


@dataclass(frozen=True)
class Tile:
    """One model input: the window to read and the core (inside the raster) it contributes."""

    read: Window
    core: Window
    last_in_row: bool

    @property
    def core_offset(self) -> tuple[int, int]:
        """Where the core starts inside the read window (rows, cols)."""
        return self.core.row - self.read.row, self.core.col - self.read.col


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class TilePlan:
    """Tiles covering a raster; iterate it for the tiles in row-major order."""

    height: int
    width: int
    size: int  # tile side (pixels)
    overlap: int
    stride: int
    trim_edges: bool

    @property
    def step(self) -> int:
        """Distance between neighbouring cores (pixels, both directions)."""
        return self.size - 2 * self.overlap

    @property
    def rows(self) -> int:
        """Number of tile rows."""
        return math.ceil(self.height / self.step)

    @property
    def cols(self) -> int:
        """Number of tile columns."""
        return math.ceil(self.width / self.step)

    def __len__(self) -> int:
        return self.rows * self.cols

    def __iter__(self) -> Iterator[Tile]:
        for i in range(self.rows):
            for j in range(self.cols):
                yield self.tile(i, j, last_in_row=j == self.cols - 1)

    def tile(self, i: int, j: int, last_in_row: bool) -> Tile:
        """The tile in tile row ``i``, tile column ``j``."""
        row, col = i * self.step, j * self.step
        core = Window(row, col, min(self.step, self.height - row), min(self.step, self.width - col))
        read = Window(row - self.overlap, col - self.overlap, self._read_side(core.height, self.height),
                      self._read_side(core.width, self.width))
        return Tile(read=read, core=core, last_in_row=last_in_row)

    def _read_side(self, core: int, extent: int) -> int:
        """A read window's side for a core side on a raster side of ``extent`` pixels: the tile's, or what the
        core (``trim_edges``) or the raster needs with the overlap on both sides, rounded up to the stride."""
        needed = core if self.trim_edges else extent
        return min(self.size, round_up(needed + 2 * self.overlap, self.stride))


@dataclass(frozen=True)
class ColumnBand:
    """A band of whole tile columns: its first pixel column, its width, and its tiles in row-major order
    (``last_in_row`` at the band's right edge)."""

    col: int
    width: int
    tiles: list[Tile]


def column_bands(plan: TilePlan, max_width: int, align: int) -> list[ColumnBand]:
    """The plan's tiles in column bands about ``max_width`` pixels wide (at least one tile column), so a
    row buffer never spans a wide raster. Band edges fall on multiples of ``align`` (the output's block
    width) when the tile step allows it within ``max_width``, so bands write whole blocks."""
    step = plan.step
    per_band = max(1, max_width // step)
    aligned = math.lcm(step, align) // step
    if aligned <= per_band:
        per_band -= per_band % aligned
    bands = []
    for first in range(0, plan.cols, per_band):
        last = min(first + per_band, plan.cols) - 1
        tiles = [plan.tile(i, j, last_in_row=j == last) for i in range(plan.rows) for j in range(first, last + 1)]
        col = first * step
        bands.append(ColumnBand(col, min((last + 1) * step, plan.width) - col, tiles))
    return bands


def plan_tiles(height: int, width: int, tile: int, overlap: int, stride: int = 1, trim_edges: bool = True
               ) -> TilePlan:
    """Plan tiles of ``tile`` x ``tile`` pixels with ``overlap`` context pixels on each side.

    A raster smaller than one tile gets one small tile, so a 1-pixel raster does not cost a full tile;
    ``trim_edges``: tiles in the last row and column are only as large as their cores need.
    FloodSarError when the numbers cannot work (tile not a multiple of stride, overlap too large).
    """
    if height < 1 or width < 1:
        raise ValueError(f"raster size must be positive, not {height} x {width}")
    if stride < 1:
        raise ValueError(f"stride must be positive, not {stride}")
    if tile < 1 or tile % stride:
        raise OptionError("tile", tile, f"tile size {tile} is not a positive multiple of the model's stride {stride}",
                          f"use {{tile={max(stride, round_up(max(tile, 1), stride))}}}")
    if overlap < 0 or 2 * overlap >= tile:
        raise OptionError("overlap", overlap, f"overlap {overlap} must be at least 0 and less than half the tile "
                          f"size {tile}", "use a smaller {overlap} or a larger {tile}")
    return TilePlan(height, width, tile, overlap, stride, trim_edges)


def spread_windows(height: int, width: int, count: int, size: int) -> list[Window]:
    """Up to ``count`` x ``count`` windows of ``size`` pixels (clipped to the raster) spread evenly over it."""
    rows = sorted({round(i * max(height - size, 0) / max(count - 1, 1)) for i in range(count)})
    cols = sorted({round(j * max(width - size, 0) / max(count - 1, 1)) for j in range(count)})
    return [Window(row, col, min(size, height), min(size, width)) for row in rows for col in cols]


def blocks(height: int, width: int, size: int) -> list[Window]:
    """Non-overlapping windows of ``size`` pixels covering a raster, row-major."""
    return [tile.core for tile in plan_tiles(height, width, size, 0)]
