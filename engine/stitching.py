"""Stitching tile predictions into full-width strips by centre-crop.

Each tile keeps only its core (see :mod:`.tiling`): the ``overlap`` pixels on every
side are context for the model and are dropped. Because the cores partition the
raster, there is no blending and no seam as long as the overlap covers the model's
receptive field: a pixel gets exactly the value the model gives it with ``overlap``
pixels of real context around it. (Weighted blending would hide seams of a model
whose receptive field is larger than the overlap, but also change values of models
for which centre-crop is exact; centre-crop is simpler and exact.)

Finished rows are handed back in chunks whose height is a multiple of the output's
block height, so a tiled GeoTIFF receives whole blocks; memory holds at most one
chunk plus one tile row of strips, never the whole raster. A wide raster is stitched
one column band at a time (:func:`.tiling.column_bands`), so strips stay narrow too.
"""
from __future__ import annotations

import numpy as np

from .tiling import Tile


def crop_core(tile: Tile, values: np.ndarray) -> np.ndarray:
    """The core of a tile's [..., H, W] prediction (the part this tile contributes)."""
    row, col = tile.core_offset
    return values[..., row:row + tile.core.height, col:col + tile.core.width]


class StripAssembler:
    """Collects tile cores (in plan order) into rows ``width`` pixels wide from pixel column ``col`` (the
    whole raster, or a column band of it); yields finished row chunks.

    Rows finished but not yet a whole block are carried to the top of the next tile row's buffer, so each
    pixel is copied once into a buffer and handed on as a view."""

    def __init__(self, width: int, block_rows: int, dtype: type = np.float32, col: int = 0) -> None:
        self.width, self.col = width, col
        self.block_rows = block_rows
        self.dtype = dtype
        self._strip: np.ndarray | None = None  # the carried rows, then the tile row being filled
        self._carried = np.empty((0, width), dtype=dtype)  # finished rows short of a whole block
        self._carried_row = 0  # raster row of the first carried row (a multiple of block_rows)

    def add(self, tile: Tile, core: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Place a tile's core; return the (row, rows) chunks that are now complete."""
        top = len(self._carried)
        if self._strip is None:
            self._strip = np.empty((top + tile.core.height, self.width), dtype=self.dtype)
            self._strip[:top] = self._carried
        left = tile.core.col - self.col
        self._strip[top:, left:left + tile.core.width] = core
        if tile.last_in_row:
            rows, self._strip = self._strip, None
            return self._emit(rows, final=False)
        return []

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """Return every remaining row (call once all tiles were added)."""
        if self._strip is not None:
            raise RuntimeError("a tile row was left incomplete")
        return self._emit(self._carried, final=True)

    def _emit(self, rows: np.ndarray, final: bool) -> list[tuple[int, np.ndarray]]:
        ready = len(rows) if final else len(rows) // self.block_rows * self.block_rows
        self._carried = rows[ready:]
        if not ready:
            return []
        chunk = (self._carried_row, rows[:ready])
        self._carried_row += ready
        return [chunk]
