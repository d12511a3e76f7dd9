"""Small helpers shared by the plugin tests (imported as a sibling module)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal


def read(path: Path | str, band: int = 1) -> np.ndarray:
    """One band of a raster as an array (QGIS's own GDAL)."""
    dataset = gdal.Open(str(path))
    assert dataset is not None, f"cannot open {path}"
    return dataset.GetRasterBand(band).ReadAsArray()


def dark_water_expected(chip: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the conftest's dark-water model must give: (mask with 255 nodata, probability)."""
    vv, vh = read(chip, 1).astype(np.float64), read(chip, 2).astype(np.float64)
    normalised = (np.clip(vv, -40, 10) + 10.5) / 4.5
    probability = 1.0 / (1.0 + np.exp(4.0 * (normalised + 1.0)))
    mask = np.where(np.isnan(vv) | np.isnan(vh), 255, probability > 0.5).astype(np.uint8)
    return mask, probability


def write_without_crs(source: Path, target: Path) -> Path:
    """A copy of ``source`` with its coordinate reference system removed."""
    gdal.Translate(str(target), str(source))
    dataset = gdal.Open(str(target), gdal.GA_Update)
    dataset.SetProjection("")
    dataset = None
    assert not gdal.Open(str(target)).GetProjection()
    return target
