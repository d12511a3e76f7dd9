"""Per-scene normalisation: metadata versions, the engine's statistics, and invariance to band gain/offset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from floodsar.engine.errors import FloodSarError
from floodsar.engine.metadata import ModelMetadata, metadata_from_map
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.engine.scene_statistics import SAMPLE_GRIDS, SceneStatistics
from floodsar.engine.sentinel1 import open_sentinel1

from helpers.models import model_metadata, onnx_model, save_onnx
from helpers.rasters import read_band, write_geotiff


def test_schema_1_records_load_as_fixed_and_newer_ones_are_refused() -> None:
    record = json.loads(ModelMetadata(name="m", architecture="a").to_json())
    old = {k: v for k, v in record.items() if k != "normalisation"} | {"schema_version": 1}
    assert ModelMetadata.from_json(json.dumps(old)).normalisation == "fixed"
    newer = json.dumps(record | {"schema_version": 3, "something_new": 1})
    with pytest.raises(FloodSarError, match="newer than this FloodSAR reads"):
        metadata_from_map({"floodsar": newer}, "model.onnx")


def test_scene_model_needs_statistics_and_ignores_gain_and_offset() -> None:
    rng = np.random.default_rng(0)
    db = rng.normal(-15, 4, size=(2, 64, 64)).astype(np.float32)
    valid = np.ones((64, 64), bool)
    meta = ModelMetadata(name="m", architecture="a", normalisation="scene")
    with pytest.raises(ValueError, match="scene statistics"):
        meta.normalise(db)
    stretched = db * np.float32(1.3)[None] + np.array([2.5, -1.5], np.float32)[:, None, None]
    a = meta.normalise(db, SceneStatistics.of_array(db, valid))
    b = meta.normalise(stretched, SceneStatistics.of_array(stretched, valid))
    assert np.allclose(a, b, atol=1e-3)


def test_sparse_raster_gets_the_denser_sample() -> None:
    db = np.full((2, 2048, 2048), np.nan, np.float32)
    db[:, 1000:1100, 300:400] = -12.0  # one small patch of data that the coarse grid misses
    valid = np.isfinite(db).all(axis=0)
    stats = SceneStatistics.of_array(db, valid)
    assert stats.location == (-12.0, -12.0)
    assert len(SAMPLE_GRIDS) > 1


def test_engine_maps_the_same_water_after_a_calibration_change(tmp_path: Path, real_data: Path) -> None:
    """A scene-normalised model run by the engine: +3 dB on VV, x1.2 contrast and -2 dB on VH change nothing."""
    model = save_onnx(onnx_model("pointwise", model_metadata(normalisation="scene")), tmp_path / "scene.onnx")
    with open_sentinel1([real_data / "sen1floods11" / "S1Hand" / "India_900498_S1Hand.tif"]) as source:
        db, valid = source.read_db(0, 0, 256, 256)
        transform = source.grid.transform
    shifted = db.copy()
    shifted[0] += 3.0
    shifted[1] = (shifted[1] - np.nanmedian(shifted[1])) * 1.2 + np.nanmedian(shifted[1]) - 2.0
    masks = []
    for name, stack in (("original", db), ("shifted", shifted)):
        raster = write_geotiff(tmp_path / f"{name}.tif", stack, epsg=4326, transform=transform, nodata=float("nan"))
        out = tmp_path / f"{name}_mask.tif"
        predict(PredictionRequest(inputs=[raster], output=out, method="model", model=model, backend="onnx",
                                  device="cpu"))
        masks.append(read_band(out))
    water = [m == 1 for m in masks]
    assert 0.05 < water[0].mean() < 0.95
    assert (water[0] == water[1]).mean() > 0.995


def test_normalising_into_a_buffer_gives_the_same_values() -> None:
    """The engine normalises straight into its batch buffer: the values are those of a fresh array."""
    rng = np.random.default_rng(1)
    db = rng.normal(-15, 8, size=(2, 64, 64)).astype(np.float32)
    db[:, :3] = np.nan  # nodata stays NaN either way
    db[0, 10, :5] = [-80, -60, 0, 15, 40]  # outside the clip range on both sides
    for meta in (ModelMetadata(name="m", architecture="a"), ModelMetadata(name="m", architecture="a",
                                                                           normalisation="scene")):
        scene = SceneStatistics.of_array(db, np.isfinite(db).all(axis=0))
        buffer = np.full((2, 64, 64), 7.0, np.float32)
        into = meta.normalise(db, scene, out=buffer)
        assert into is buffer
        np.testing.assert_array_equal(into, meta.normalise(db, scene))
        assert meta.normalise(db, scene).dtype == np.float32
