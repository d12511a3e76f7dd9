"""A zip holding one VV+VH GeoTIFF, or a VV and a VH GeoTIFF: read in place with /vsizip/."""
from __future__ import annotations

from typing import Optional

from .. import raster_io
from ..errors import FloodSarError
from ..raster_io import RasterIO
from ..polarisation import polarisation
from .container import Container
from .product import Product

RASTER_SUFFIXES = (".tif", ".tiff")


def read(container: Container, io: RasterIO) -> Optional[Product]:
    rasters = [m for m in container.members if m.lower().endswith(RASTER_SUFFIXES)]
    if not container.is_zip or not 1 <= len(rasters) <= 2:
        return None
    if len(rasters) == 2:
        by_pol = {polarisation(raster_io.file_stem(m)): m for m in rasters}
        if set(by_pol) != {"VV", "VH"}:
            raise FloodSarError(
                f"{container.path}: holds two rasters ({', '.join(rasters)}) whose names do not say which is "
                "VV and which is VH; pass them as /vsizip/ paths, VV first.")
        rasters = [by_pol["VV"], by_pol["VH"]]
    return Product(kind=f"zipped GeoTIFF ({container.path.name}, read in place with /vsizip/)",
                   paths=[container.gdal_path(m) for m in rasters])
