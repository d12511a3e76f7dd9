"""Small generated GeoTIFFs for tests: write one, read a band back, a folder nobody can write to."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from osgeo import gdal, osr

gdal.UseExceptions()

#: 10 m pixels in UTM zone 33N.
UTM_TRANSFORM = (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)
_TYPES = {np.dtype("float32"): gdal.GDT_Float32, np.dtype("float64"): gdal.GDT_Float64,
          np.dtype("uint8"): gdal.GDT_Byte, np.dtype("int16"): gdal.GDT_Int16,
          np.dtype("uint16"): gdal.GDT_UInt16}


def write_geotiff(path: str | Path, data: np.ndarray, *, epsg: int | None = 32633,
                  transform: Sequence[float] | None = UTM_TRANSFORM, nodata: float | None = None,
                  descriptions: Sequence[str] = ()) -> Path:
    """Write ``data`` ([bands, h, w] or [h, w]) as a GeoTIFF; ``epsg=None`` writes no CRS."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1], data.shape[0],
                                              _TYPES[data.dtype])
    if transform is not None:
        ds.SetGeoTransform(tuple(transform))
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band_data in enumerate(data):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(band_data)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if i < len(descriptions):
            band.SetDescription(descriptions[i])
    ds = None
    return Path(path)


def read_band(path: str | Path, band: int = 1) -> np.ndarray:
    """One band of a raster as an array (for checking small outputs)."""
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(band).ReadAsArray()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write to (read-only sysfs when running as root)."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no unwritable folder available")
        return Path("/sys")
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o500)
    return folder

