"""The block-wise minimum mapping unit: the same answer whatever the block size, no small patch left
where a neighbour could take it, nodata untouched, class maps too."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from floodsar.engine import sieve
from floodsar.engine.mask_encoding import NODATA
from floodsar.engine.sieve import sieve_raster, sieve_window

from helpers.rasters import write_geotiff


def speckled(shape=(300, 260), values=(0, 1), seed=0) -> np.ndarray:
    """Blobs of each value with speckle and a nodata corner: patches of every size, many across blocks."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.normal(size=shape), 3)
    mask = np.digitize(smooth, np.quantile(smooth, np.linspace(0, 1, len(values) + 1)[1:-1])).astype(np.uint8)
    mask = np.asarray(values, np.uint8)[mask]
    flip = rng.random(shape) < 0.05
    mask[flip] = rng.choice(values, flip.sum())
    mask[:40, :30] = NODATA
    return mask


def sieved_file(path, pixels: int, io) -> np.ndarray:
    with io.open_raster(path) as raster:
        out = np.zeros((raster.grid.height, raster.grid.width), np.uint8)

        def write(row, col, block):
            out[row:row + block.shape[0], col:col + block.shape[1]] = block

        sieve_raster(raster, pixels, write)
    return out


@pytest.mark.parametrize("values", [(0, 1), (0, 1, 2, 3)])
def test_blocks_give_the_same_map_as_one_window(tmp_path, io, monkeypatch, values):
    mask = speckled(values=values)
    path = write_geotiff(tmp_path / "mask.tif", mask.astype(np.float32), nodata=NODATA)
    whole = sieve_window(np.pad(mask, 1, constant_values=NODATA), 20)[1:-1, 1:-1]
    monkeypatch.setattr(sieve, "BLOCK", 64)  # patches cross block edges everywhere
    np.testing.assert_array_equal(sieved_file(path, 20, io), whole)
    assert (whole != mask).any()


def test_no_patch_under_the_unit_is_left_where_a_neighbour_could_take_it():
    mask = speckled(seed=1)
    result = sieve_window(np.pad(mask, 1, constant_values=NODATA), 12)[1:-1, 1:-1]
    assert ((result == NODATA) == (mask == NODATA)).all()
    for value in (0, 1):
        labels, count = ndimage.label(result == value)
        sizes = np.bincount(labels.ravel())
        for label in np.flatnonzero(sizes[1:] < 12) + 1:
            ring = ndimage.binary_dilation(labels == label) & (labels != label)
            assert (result[ring] == NODATA).all()  # only patches surrounded by nodata stay small


def test_a_small_patch_takes_the_commonest_neighbouring_class():
    classes = np.full((9, 9), 2, np.uint8)
    classes[:, 5:] = 3
    classes[4, 4] = 1  # one flood pixel: three neighbours reference water (2), one excluded (3)
    result = sieve_window(np.pad(classes, 1, constant_values=NODATA), 2)[1:-1, 1:-1]
    assert result[4, 4] == 2 and (result[:, 5:] == 3).all()
