"""Otsu baseline: equal to scikit-image; the tiled variant refuses to split dry land."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal
from skimage.filters import threshold_otsu

from floodsar.engine.otsu import (FALLBACK_THRESHOLD_DB, TILE_SIZE, TiledOtsu, is_bimodal, otsu_threshold,
                                  otsu_water, vh_histogram)


def vh_of(path):
    vh = gdal.Open(str(path)).ReadAsArray().astype(np.float32)
    vh = vh[-1] if vh.ndim == 3 else vh
    return vh, np.isfinite(vh) & (vh != 0)


def tiled(vh, valid) -> TiledOtsu:
    otsu = TiledOtsu()
    for r in range(0, vh.shape[0], TILE_SIZE):
        for c in range(0, vh.shape[1], TILE_SIZE):
            otsu.add(vh[r:r + TILE_SIZE, c:c + TILE_SIZE], valid[r:r + TILE_SIZE, c:c + TILE_SIZE])
    return otsu


@pytest.mark.parametrize("chip", ["spain", "india", "ghana_dry", "jja10_vh"])
def test_threshold_equals_scikit_image(chips, chip):
    vh, valid = vh_of(chips[chip])
    assert otsu_threshold(vh[valid]) == threshold_otsu(vh[valid])
    assert otsu_threshold(vh[valid], bins=64) == threshold_otsu(vh[valid], nbins=64)


def test_threshold_equals_scikit_image_on_generated_values():
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = np.concatenate([rng.normal(-25, 2, rng.integers(10, 500)), rng.normal(-15, 3, 1000)])
        assert otsu_threshold(values) == threshold_otsu(values)
    assert otsu_threshold(np.full(10, -12.5)) == -12.5


def test_otsu_water_on_a_wet_chip_matches_the_label(chips):
    vh, valid = vh_of(chips["spain"])
    mask, threshold = otsu_water(vh, valid)
    label = gdal.Open(str(chips["spain_label"])).ReadAsArray()
    assert -25 < threshold < -18
    assert np.array_equal(mask == 255, ~valid)
    both = valid & (label >= 0)
    water, truth = mask[both] == 1, label[both] == 1
    assert (water & truth).sum() / (water | truth).sum() > 0.5  # IoU 0.57 on this chip (all-water: 0.27)


def test_otsu_water_with_no_valid_pixel_is_all_nodata():
    mask, threshold = otsu_water(np.full((4, 4), np.nan, np.float32), np.zeros((4, 4), bool))
    assert (mask == 255).all() and np.isnan(threshold)


def test_dry_chip_has_no_bimodal_tile_and_falls_back(chips):
    vh, valid = vh_of(chips["ghana_dry"])
    assert not is_bimodal(vh_histogram(vh, valid))
    result = tiled(vh, valid).result()
    tiles = -(-vh.shape[0] // TILE_SIZE) * -(-vh.shape[1] // TILE_SIZE)  # every tile was looked at
    assert result.bimodal_tiles == 0 and result.checked_tiles == tiles >= 1
    assert result.threshold_db == FALLBACK_THRESHOLD_DB and "bimodal" in result.warning
    plain = otsu_water(vh, valid)[0]
    assert np.mean(plain[valid] == 1) > 0.3  # plain Otsu splits dry land in two...
    assert np.mean(vh[valid] <= result.threshold_db) < 0.01  # ...the fallback maps (almost) nothing


@pytest.mark.parametrize("chip", ["spain", "india", "jja10_vh"])
def test_wet_chips_are_bimodal_and_get_a_water_threshold(chips, chip):
    vh, valid = vh_of(chips[chip])
    result = tiled(vh, valid).result()
    assert result.bimodal_tiles >= 1 and result.warning is None
    assert -25 < result.threshold_db < -17
    assert abs(result.threshold_db - threshold_otsu(vh[valid])) < 1.5
