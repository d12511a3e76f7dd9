"""Sentinel-1 products as users download them, turned into the rasters the engine reads.

:func:`resolve` is the one place that looks at what the user passed: a GeoTIFF (or two),
a GRD SAFE folder / ``manifest.safe`` / .zip, a HyP3 RTC product (.zip or folder), a SNAP
BEAM-DIMAP ``.dim``, a zip of GeoTIFFs, a ``/vsizip/`` or ``/vsicurl/`` path or an
http(s) URL. It returns a :class:`Product`: either plain raster paths for the usual
band/unit rules of :mod:`..sentinel1`, or one ready two-band VV/VH raster (GRD, RTC)
whose units and processing steps the product states. Each format lives in its own module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .. import raster_io
from ..errors import FloodSarError
from ..raster_io import RasterFile
from .container import Container


@dataclass
class Product:
    """What an input is and how the engine reads it."""

    kind: str
    #: GDAL paths of the rasters to open with the usual rules (empty when ``raster`` is set).
    paths: list[str] = field(default_factory=list)
    #: A ready two-band raster, band 1 VV and band 2 VH (described "VV", "VH").
    raster: Optional[RasterFile] = None
    #: 'linear' or 'db' when the product states its units; None: detect them.
    units: Optional[str] = None
    units_reason: str = ""
    #: What will be done to the data before the model sees it, in words.
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Where the product marks pixels unusable (layover, shadow): ``exclusion(row, col, height, width)`` is a
    #: bool window of ``raster``. Those pixels are nodata in a water mask and excluded in flood classes.
    exclusion: Optional[Callable[[int, int, int, int], np.ndarray]] = None


#: A format reader: a Product for a container it recognises, else None.
Reader = Callable[[Container, str], Optional[Product]]


def _readers() -> list[Reader]:
    from . import dimap, hyp3, safe, zipped

    return [safe.read, hyp3.read, dimap.read, zipped.read]


def resolve(inputs: Sequence[str | Path], io: str = "auto") -> Product:
    """Turn the user's input path(s) into a :class:`Product`; FloodSarError if unusable."""
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
            for read in _readers():
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
