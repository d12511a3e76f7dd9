"""The minimum mapping unit in bounded memory: patches smaller than a number of pixels take the value
around them.

A patch is a 4-connected group of pixels of one value (nodata is never a patch and never changes). A
patch of fewer than ``pixels`` pixels spans fewer than ``pixels`` rows and columns, so whether a patch
touching a block is small, and which values surround it, can be seen in the block widened by
``pixels - 1`` on every side: the mask is sieved block by block with that margin (per pass), and every
block reaches the same answer for a patch it shares with another. In a pass, each small patch takes the
value most of its 4-neighbours in patches that stay have (water or dry in a mask; the most common class
in a class map); a small patch whose neighbours are all nodata or small waits for the next pass, and one
with no valid neighbour at all stays. Memory: about 14 bytes per pixel of the widened block, whatever the
raster size, with ``pixels`` capped at :data:`MAX_PIXELS`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from .mask_encoding import NODATA
from .raster_io import RasterFile
from .tiling import blocks

#: Side of the blocks written at a time (pixels).
BLOCK = 1024
#: Largest minimum mapping unit in pixels: the margin, and so the memory, grows with it.
MAX_PIXELS = 512
#: Passes over each window: a small patch whose neighbours were all small too takes a value in the second.
PASSES = 2
#: The 4-neighbour shifts: (rows, cols) slices of a pixel and of its neighbour.
_SHIFTS = ((np.s_[1:, :], np.s_[:-1, :]), (np.s_[:-1, :], np.s_[1:, :]),
           (np.s_[:, 1:], np.s_[:, :-1]), (np.s_[:, :-1], np.s_[:, 1:]))


def sieve_window(values: np.ndarray, pixels: int) -> np.ndarray:
    """``values`` (uint8) after :data:`PASSES` passes; patches touching the window's edge never change."""
    for _ in range(PASSES):
        values = _one_pass(values, pixels)
    return values


def _one_pass(values: np.ndarray, pixels: int) -> np.ndarray:
    """``values`` with every patch under ``pixels`` pixels that does not touch the window's edge given
    the most common value of its neighbours in patches that stay."""
    out = values.copy()
    patches = []
    in_small = np.zeros(values.shape, bool)
    for value in np.flatnonzero(np.bincount(values.ravel(), minlength=256)):
        if value == NODATA:
            continue
        labels, count = ndimage.label(values == value)  # 4-connected
        small = np.bincount(labels.ravel(), minlength=count + 1) < pixels
        small[0] = False
        small[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
        if small.any():
            is_small = small[labels]
            patches.append((labels, is_small))
            in_small |= is_small
    for labels, is_small in patches:
        _take_neighbours(out, values, labels, is_small, in_small)
    return out


def _take_neighbours(out: np.ndarray, values: np.ndarray, labels: np.ndarray, is_small: np.ndarray,
                     in_small: np.ndarray) -> None:
    """Give each small patch of ``labels`` (pixels ``is_small``) the most common value of its 4-neighbours
    that lie in patches that stay (not nodata, not small themselves), in ``out``."""
    keys = []
    for here, there in _SHIFTS:
        chosen = is_small[here] & ~in_small[there] & (values[there] != NODATA)
        keys.append(labels[here][chosen].astype(np.int64) * 256 + values[there][chosen])
    pairs, counts = np.unique(np.concatenate(keys), return_counts=True)
    if not len(pairs):
        return
    order = np.lexsort((-counts, pairs // 256))  # by patch, most common neighbour value first
    patch, first = np.unique(pairs[order] // 256, return_index=True)
    replacement = np.full(labels.max() + 1, -1, np.int16)
    replacement[patch] = pairs[order][first] % 256
    new = replacement[labels]
    changed = new >= 0
    out[changed] = new[changed]


def sieve_raster(mask: RasterFile, pixels: int, write: Callable[[int, int, np.ndarray], None]) -> None:
    """Sieve ``mask`` block by block into ``write(row, col, block)``: each block is read with a margin of
    ``pixels - 1`` per pass, so every pass sees whole patches around what the next one needs."""
    margin = PASSES * (pixels - 1)
    for block in blocks(mask.grid.height, mask.grid.width, BLOCK):
        window = mask.read_window([1], block.row - margin, block.col - margin, block.height + 2 * margin,
                                  block.width + 2 * margin)[0]
        values = np.where(np.isnan(window), NODATA, window).astype(np.uint8)
        sieved = sieve_window(values, pixels)
        write(block.row, block.col, sieved[margin:margin + block.height, margin:margin + block.width])
