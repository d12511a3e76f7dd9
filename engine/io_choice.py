"""Which raster I/O a run uses, chosen once: GDAL inside QGIS, rasterio elsewhere."""
from __future__ import annotations

import importlib.util
import sys

from .errors import FloodSarError
from .raster_io import RasterIO

IO_CHOICES = ("auto", "gdal", "rasterio")


def choose_io(name: str = "auto") -> RasterIO:
    """The implementation called ``name``; 'auto': GDAL inside QGIS (or without rasterio), else rasterio.

    Only the chosen implementation's library is imported.
    """
    if name not in IO_CHOICES:
        raise FloodSarError(f"unknown raster I/O {name!r}; choose one of {', '.join(IO_CHOICES)}.")
    if name == "auto":
        inside_qgis = "qgis" in sys.modules or importlib.util.find_spec("rasterio") is None
        name = "gdal" if inside_qgis else "rasterio"
    if name == "gdal":
        from .gdal_io import GdalIO

        return GdalIO()
    from .rasterio_io import RasterioIO

    return RasterioIO()
