"""Mapping part of a raster (--extent), a given threshold, progress through post-processing, band order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from floodsar.engine.cli import main
from floodsar.engine.errors import FloodSarError
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.engine.sentinel1 import open_sentinel1

from helpers.rasters import write_geotiff


def read(path: Path) -> np.ndarray:
    dataset = gdal.Open(str(path))
    return dataset.GetRasterBand(1).ReadAsArray()


def pixel_extent(path: Path, row: int, col: int, height: int, width: int) -> tuple[float, ...]:
    """The map extent (xmin, ymin, xmax, ymax) of a pixel window, shrunk a little inside it."""
    x0, dx, _, y0, _, dy = gdal.Open(str(path)).GetGeoTransform()
    inset = 0.01
    return (x0 + (col + inset) * dx, y0 + (row + height - inset) * dy,
            x0 + (col + width - inset) * dx, y0 + (row + inset) * dy)


@pytest.mark.parametrize("method", ["model", "otsu"])
def test_extent_maps_exactly_that_window(chips, pointwise_model, tmp_path, method):
    full = predict(PredictionRequest([chips["spain"]], tmp_path / "full.tif", method=method,
                                     model=pointwise_model, threshold=-20.0 if method == "otsu" else None))
    part = predict(PredictionRequest([chips["spain"]], tmp_path / "part.tif", method=method, model=pointwise_model,
                                     extent=pixel_extent(chips["spain"], 100, 50, 200, 300),
                                     threshold=-20.0 if method == "otsu" else None))
    dataset = gdal.Open(str(part.output))
    assert (dataset.RasterXSize, dataset.RasterYSize) == (300, 200)
    x0, dx, _, y0, _, dy = gdal.Open(str(chips["spain"])).GetGeoTransform()
    np.testing.assert_allclose(dataset.GetGeoTransform(), (x0 + 50 * dx, dx, 0, y0 + 100 * dy, 0, dy))
    difference = np.mean(read(part.output) != read(full.output)[100:300, 50:350])
    assert difference < (2e-3 if method == "model" else 1e-9)  # the model sees its context across the cut
    assert part.valid_area_km2 < full.valid_area_km2 * 0.3


def test_extent_outside_the_raster_is_refused_before_writing(chips, tmp_path):
    with pytest.raises(FloodSarError, match="does not overlap the raster"):
        predict(PredictionRequest([chips["spain"]], tmp_path / "m.tif", method="otsu", extent=(0, 0, 1, 1)))
    assert list(tmp_path.iterdir()) == []


def test_given_thresholds_change_the_mask(chips, pointwise_model, tmp_path):
    auto = predict(PredictionRequest([chips["spain"]], tmp_path / "a.tif", method="otsu"))
    lower = predict(PredictionRequest([chips["spain"]], tmp_path / "b.tif", method="otsu",
                                      threshold=auto.threshold_db - 3))
    assert lower.threshold_db == pytest.approx(auto.threshold_db - 3) and "Given threshold" in lower.backend
    assert lower.water_area_km2 < auto.water_area_km2
    strict = predict(PredictionRequest([chips["spain"]], tmp_path / "c.tif", model=pointwise_model, threshold=0.9))
    loose = predict(PredictionRequest([chips["spain"]], tmp_path / "d.tif", model=pointwise_model, threshold=0.1))
    assert strict.water_area_km2 < loose.water_area_km2
    with pytest.raises(FloodSarError, match="between 0 and 1"):
        predict(PredictionRequest([chips["spain"]], tmp_path / "e.tif", model=pointwise_model, threshold=1.5))


def test_progress_covers_post_processing(chips, tmp_path):
    seen = []
    predict(PredictionRequest([chips["spain"]], tmp_path / "m.tif", method="otsu", min_area_m2=2500,
                              vector=tmp_path / "w.gpkg"), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 100
    assert seen[-3] == pytest.approx(80) and seen[-2] == pytest.approx(90)  # mapping, then each step


def test_swapped_bands_without_descriptions_warn(chips, tmp_path):
    dataset = gdal.Open(str(chips["spain"]))
    bands = np.stack([dataset.GetRasterBand(b).ReadAsArray() for b in (2, 1)])  # VH first, no descriptions
    swapped = write_geotiff(tmp_path / "vh_first.tif", bands)
    with open_sentinel1([swapped]) as source:
        [warning] = source.warnings
    assert "look swapped" in warning and str(swapped) in warning
    with open_sentinel1([chips["spain"]]) as source:
        assert source.warnings == []
    with open_sentinel1([swapped], vv_band=2, vh_band=1) as source:
        assert source.warnings == []


def test_cli_extent_and_threshold(capsys, chips, tmp_path):
    out = tmp_path / "m.tif"
    extent = pixel_extent(chips["spain"], 0, 0, 64, 128)
    code = main(["predict", str(chips["spain"]), "-o", str(out), "--method", "otsu", "--threshold", "-18",
                 "--extent", *(str(v) for v in extent)])
    assert code == 0 and "Given threshold -18.00 dB" in capsys.readouterr().out
    assert read(out).shape == (64, 128)
