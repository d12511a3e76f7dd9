"""What a Sentinel-1 input is and how the engine reads it (the result of :func:`.resolve`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..raster_io import RasterFile


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
