"""Tiling arithmetic: cores partition the raster, read windows give the overlap, shapes fit the stride."""
from __future__ import annotations

import itertools
from math import lcm

import numpy as np
import pytest

from floodsar.engine.benchmark.estimates import SCENE_HEIGHT, SCENE_WIDTH
from floodsar.engine.errors import FloodSarError
from floodsar.engine.tiling import column_bands, plan_tiles, round_up

SIZES = [1, 2, 7, 16, 47, 48, 63, 64, 65, 100, 129, 512, 513]


def coverage(height: int, width: int, tile: int, overlap: int, stride: int) -> np.ndarray:
    counts = np.zeros((height, width), dtype=int)
    for t in plan_tiles(height, width, tile, overlap, stride):
        counts[t.core.row:t.core.row + t.core.height, t.core.col:t.core.col + t.core.width] += 1
    return counts


@pytest.mark.parametrize("tile,overlap,stride", [(64, 8, 16), (48, 0, 16), (32, 15, 32), (16, 7, 1), (2, 0, 1)])
def test_cores_cover_every_pixel_exactly_once(tile, overlap, stride):
    for height, width in itertools.product(SIZES, SIZES):
        assert (coverage(height, width, tile, overlap, stride) == 1).all(), (height, width)


@pytest.mark.parametrize("trim_edges", [True, False])
@pytest.mark.parametrize("height,width", [(1, 1), (1, 700), (130, 5), (512, 512), (513, 100), (1000, 1001)])
def test_read_windows_hold_the_core_with_overlap_context_and_fit_the_stride(height, width, trim_edges):
    tile, overlap, stride = 128, 16, 16
    plan = plan_tiles(height, width, tile, overlap, stride, trim_edges)
    shapes = set()
    for t in plan:
        read, core = t.read, t.core
        shapes.add((read.height, read.width))
        assert read.height % stride == 0 and read.width % stride == 0
        assert read.height <= tile and read.width <= tile
        row, col = t.core_offset
        assert row == col == overlap  # full context on every side, inside or outside the raster
        assert core.row + core.height + overlap <= read.row + read.height
        assert core.col + core.width + overlap <= read.col + read.width
        if trim_edges:
            assert read.row + read.height - stride < core.row + core.height + overlap  # no more than the stride
            assert read.col + read.width - stride < core.col + core.width + overlap  # beyond the context
        assert 0 <= core.row and core.row + core.height <= height and 0 <= core.col and core.col + core.width <= width
    # full tiles, and smaller ones in the last row and column; untrimmed, one shape (smaller only for a small raster)
    assert len(shapes) <= 4 if trim_edges else shapes == {(min(tile, round_up(height + 2 * overlap, stride)),
                                                           min(tile, round_up(width + 2 * overlap, stride)))}


def test_small_raster_gets_one_small_tile_rounded_to_the_stride():
    (only,) = plan_tiles(1, 1, 512, 64, 16)
    assert (only.read.height, only.read.width) == (144, 144)  # 1 + 2 * 64 -> 144
    assert only.read.row == only.read.col == -64 and only.core.height == only.core.width == 1
    (only,) = plan_tiles(300, 40, 512, 0, 16)
    assert (only.read.height, only.read.width) == (304, 48)


def test_last_row_and_column_tiles_are_only_as_large_as_their_cores_need():
    plan = plan_tiles(SCENE_HEIGHT, SCENE_WIDTH, 1024, 32, 32)  # the benchmark's full scene: step 960
    shapes = {(t.read.height, t.read.width) for t in plan}
    assert (SCENE_HEIGHT, SCENE_WIDTH) == (17000, 25000) and (plan.rows, plan.cols) == (18, 27)
    # last row: 17000 - 17 * 960 = 680 px of core + 2 * 32 -> 768; last column: 25000 - 26 * 960 = 40 + 64 -> 128
    assert shapes == {(1024, 1024), (1024, 128), (768, 1024), (768, 128)}
    model_pixels = sum(t.read.height * t.read.width for t in plan)
    assert model_pixels < 0.96 * len(plan) * 1024 ** 2  # the edges no longer run whole tiles of padding
    untrimmed = plan_tiles(SCENE_HEIGHT, SCENE_WIDTH, 1024, 32, 32, trim_edges=False)
    assert {(t.read.height, t.read.width) for t in untrimmed} == {(1024, 1024)}


def test_tile_counts_and_row_ends():
    plan = plan_tiles(1000, 700, 256, 32, 16)  # step 192
    assert (plan.rows, plan.cols, len(plan)) == (6, 4, 24)
    tiles = list(plan)
    assert [t.last_in_row for t in tiles[:4]] == [False, False, False, True]
    assert [t.core.row for t in tiles[::4]] == [0, 192, 384, 576, 768, 960]
    assert tiles[-1].core.height == 40 and tiles[-1].core.width == 700 - 3 * 192


@pytest.mark.parametrize("tile,overlap,stride,message", [
    (500, 0, 16, "tile 512"), (0, 0, 1, "multiple"), (64, 32, 16, "overlap"), (64, -1, 16, "overlap")])
def test_impossible_settings_give_a_clear_error(tile, overlap, stride, message):
    with pytest.raises(FloodSarError, match=message):
        plan_tiles(100, 100, tile, overlap, stride)


def test_round_up():
    assert [round_up(v, 16) for v in (1, 16, 17, 32)] == [16, 16, 32, 32]


@pytest.mark.parametrize("width,tile,overlap,max_width", [(5000, 64, 8, 100), (5000, 512, 32, 8192),
                                                          (20000, 512, 32, 8192), (700, 128, 16, 8192)])
def test_column_bands_hold_every_tile_once_and_stay_narrow(width, tile, overlap, max_width):
    plan = plan_tiles(300, width, tile, overlap, 16)
    bands = column_bands(plan, max_width, 512)
    assert sorted((t.core.row, t.core.col) for b in bands for t in b.tiles) == \
        sorted((t.core.row, t.core.col) for t in plan)
    assert sum(b.width for b in bands) == width and bands[0].col == 0
    for band, following in zip(bands, bands[1:]):
        assert following.col == band.col + band.width
    for band in bands:
        assert all(band.col <= t.core.col and t.core.col + t.core.width <= band.col + band.width for t in band.tiles)
        assert band.width <= max(max_width, plan.step)
        assert sum(t.last_in_row for t in band.tiles) == plan.rows  # one row end per tile row, at the band's edge
    if lcm(plan.step, 512) <= max_width:  # the step allows block-aligned band edges: they are
        assert all(b.col % 512 == 0 for b in bands)
