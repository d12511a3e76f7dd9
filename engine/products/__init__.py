"""Sentinel-1 products as users download them, turned into the rasters the engine reads.

:func:`resolve` is the one place that looks at what the user passed: a GeoTIFF (or two),
a GRD SAFE folder / ``manifest.safe`` / .zip, a HyP3 RTC product (.zip or folder), a SNAP
BEAM-DIMAP ``.dim``, a zip of GeoTIFFs, a ``/vsizip/`` or ``/vsicurl/`` path or an
http(s) URL. It returns a :class:`Product`: either plain raster paths for the usual
band/unit rules of :mod:`..sentinel1`, or one ready two-band VV/VH raster (GRD, RTC)
whose units and processing steps the product states. Each format lives in its own module.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional, Sequence


from .. import raster_io
from ..errors import FloodSarError
from ..io_choice import choose_io
from ..raster_io import RasterIO
from .container import Container
from .product import Product


#: A format reader: a Product for a container it recognises, else None.
Reader = Callable[[Container, RasterIO], Optional[Product]]


def _readers(dem: Optional[Path]) -> list[Reader]:
    from . import dimap, grd, hyp3, zipped

    return [functools.partial(grd.read, dem=dem), hyp3.read, dimap.read, zipped.read]


def resolve(inputs: Sequence[str | Path], io: RasterIO | None = None, dem: str | Path | None = None) -> Product:
    """Turn the user's input path(s) into a :class:`Product` read with ``io`` (default:
    :func:`..io_choice.choose_io`); FloodSarError if unusable. A GRD product is geocoded with the
    terrain heights of ``dem`` when given (other inputs are already geocoded)."""
    io = io or choose_io()
    texts = [str(p) for p in inputs]
    if len(texts) == 1 and not raster_io.is_virtual(texts[0]):
        path = Path(texts[0])
        raster_io.check_exists(path)
        if path.name.lower() == "manifest.safe":
            path = path.parent
        if path.suffix.lower() == ".dim":
            from . import dimap

            return dimap.read_dim(path, io)
        if path.is_dir() or path.suffix.lower() == ".zip":
            container = Container(path)
            for read in _readers(Path(dem) if dem else None):
                product = read(container, io)
                if product is not None:
                    return product
            raise FloodSarError(
                f"{path}: holds no Sentinel-1 product FloodSAR knows (GRD SAFE, HyP3 RTC, SNAP BEAM-DIMAP, "
                "or one or two GeoTIFFs); pass the VV/VH raster file(s) instead.")
    return Product(kind=_plain_kind(texts), paths=[raster_io.gdal_path(t) for t in texts])


def _plain_kind(texts: Sequence[str]) -> str:
    first = texts[0].lower()
    if first.startswith(raster_io.URL_SCHEMES) or first.startswith("/vsicurl/"):
        return "raster(s) read over HTTP (GDAL /vsicurl/, range requests)"
    if first.startswith("/vsizip/"):
        return "raster(s) read inside a zip (GDAL /vsizip/)"
    if first.startswith(raster_io.VSI_PREFIX):
        return "raster(s) on a GDAL virtual file system"
    return "raster file(s)"
