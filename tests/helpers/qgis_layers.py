"""Helpers of the plugin tests: read a band with QGIS's GDAL, the expected output of the test model, a copy
without CRS."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal

from helpers.models import OFFSET, SLOPE, model_metadata


def read(path: Path | str, band: int = 1) -> np.ndarray:
    """One band of a raster as an array (QGIS's own GDAL)."""
    dataset = gdal.Open(str(path))
    assert dataset is not None, f"cannot open {path}"
    return dataset.GetRasterBand(band).ReadAsArray()


def water_model_expected(chip: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the conftest's ``water_model`` must give on ``chip``: (mask with 255 nodata, probability)."""
    db = np.stack([read(chip, 1), read(chip, 2)]).astype(np.float32)
    normalised_vh = model_metadata().normalise(db)[1].astype(np.float64)
    probability = 1.0 / (1.0 + np.exp(-SLOPE * (normalised_vh + OFFSET)))
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
