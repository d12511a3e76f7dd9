"""Small helpers shared by the plugin tests (imported as a sibling module)."""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
from osgeo import gdal


def read(path: Path | str, band: int = 1) -> np.ndarray:
    """One band of a raster as an array (QGIS's own GDAL)."""
    dataset = gdal.Open(str(path))
    assert dataset is not None, f"cannot open {path}"
    return dataset.GetRasterBand(band).ReadAsArray()


@lru_cache(maxsize=None)
def engine_test_models() -> ModuleType:
    """The engine tests' small ONNX model builders (tests/engine/conftest.py), loaded as a plain module."""
    path = Path(__file__).resolve().parents[1] / "engine" / "conftest.py"
    spec = importlib.util.spec_from_file_location("floodsar_engine_test_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def water_model_expected(chip: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the conftest's ``water_model`` must give on ``chip``: (mask with 255 nodata, probability)."""
    models = engine_test_models()
    db = np.stack([read(chip, 1), read(chip, 2)]).astype(np.float32)
    normalised_vh = models.model_metadata().normalise(db)[1].astype(np.float64)
    probability = 1.0 / (1.0 + np.exp(-models.SLOPE * (normalised_vh + models.OFFSET)))
    mask = np.where(np.isnan(db).any(axis=0), 255, probability >= 0.5).astype(np.uint8)
    return mask, probability


def write_without_crs(source: Path, target: Path) -> Path:
    """A copy of ``source`` with its coordinate reference system removed."""
    gdal.Translate(str(target), str(source))
    dataset = gdal.Open(str(target), gdal.GA_Update)
    dataset.SetProjection("")
    dataset = None
    assert not gdal.Open(str(target)).GetProjection()
    return target
