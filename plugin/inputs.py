"""Sentinel-1 inputs as the panel and the toolbox see them: polarisation of a layer, its VV/VH partner,
a product's name, and a summary of what the engine finds and will do.

Main thread only (reads layers of the project).
"""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import Iterable, Sequence

from qgis.core import QgsRasterLayer

from .parameters import (VH)

from ..engine.errors import FloodSarError
from ..engine.gdal_io import GdalIO
from ..engine.polarisation import polarisation
from ..engine.sentinel1 import ASSUMED_ORDER, open_sentinel1
from .layers import layer_path
from .parameters import QGIS_WORDING

#: Pixel size (m) FloodSAR's models are trained for; the summary warns far from it.
NATIVE_PIXEL_M = 10.0


def layer_polarisation(layer: QgsRasterLayer) -> str | None:
    """'VV' or 'VH' for a single-polarisation layer named so (layer name, file name or band name)."""
    if layer.bandCount() != 1:
        return None
    path = layer_path(layer) or ""
    for text in (layer.name(), path.rsplit("/", 1)[-1], layer.bandName(1)):
        found = polarisation(text)
        if found:
            return found
    return None


def partner(layer: QgsRasterLayer, candidates: Iterable[QgsRasterLayer]) -> QgsRasterLayer | None:
    """The layer with the other polarisation on the same grid as single-polarisation ``layer`` (``_vv``/``_vh``)."""
    own = layer_polarisation(layer)
    if own is None:
        return None
    other = VH if own == "VV" else "VV"
    for candidate in candidates:
        if (candidate.id() != layer.id() and layer_polarisation(candidate) == other
                and candidate.crs() == layer.crs() and candidate.extent() == layer.extent()
                and (candidate.width(), candidate.height()) == (layer.width(), layer.height())):
            return candidate
    return None


def product_name(path: str) -> str:
    """A product's name for layer names: its file or folder name without .zip/.dim/.SAFE (the SAFE's for
    its manifest.safe)."""
    parts = PurePosixPath(path.replace("\\", "/").rstrip("/")).parts
    name = parts[-2] if parts[-1].lower() == "manifest.safe" and len(parts) > 1 else parts[-1]
    stem, _, suffix = name.rpartition(".")
    return stem if stem and suffix.lower() in ("zip", "dim", "safe") else name


class InputSummary:
    """What the engine finds in the chosen input: lines for the panel or the log, warnings, whether bands
    were guessed, the CRS.

    ``paths``: the files behind the chosen layer(s) (None for a layer that is not a file), or one product
    path or URL. ``single_polarisation``: a VV-only or VH-only layer is fine (the Otsu method). ``dem``: the
    run's DEM (a GRD product is then terrain-corrected).
    """

    def __init__(self, paths: Sequence[str | None], vv_band: int | None = None, vh_band: int | None = None,
                 single_polarisation: bool = False, units: str = "auto", dem: str | None = None) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.error = ""
        self.band_order_assumed = False
        self.crs_wkt = ""
        if not paths:
            self.error = "Add a Sentinel-1 raster (VV + VH, dB or linear) to the project, or choose a product."
            return
        if None in paths:
            self.error = "The layer is not a raster file; save it as a GeoTIFF first."
            return
        try:
            with open_sentinel1(paths, vv_band=vv_band, vh_band=vh_band, units=units, io=GdalIO(),
                                single_polarisation=single_polarisation, dem=dem) as source:
                description = source.describe(native_m=NATIVE_PIXEL_M)
                self.band_order_assumed = source.band_names[0].endswith(ASSUMED_ORDER)
                self.crs_wkt = source.grid.crs_wkt
        except FloodSarError as exc:
            self.error = exc.worded(QGIS_WORDING)
            return
        for line in description.splitlines():
            if line.startswith("Warning: "):
                self.warnings.append(QGIS_WORDING.fill(line[len("Warning: "):]))
            elif not line.startswith("Files:"):
                self.lines.append(line.replace(ASSUMED_ORDER, " (assumed)"))
        if self.band_order_assumed:
            self.warnings.insert(0, "The bands have no descriptions, so band 1 is taken as VV and band 2 as VH "
                                    "(Sen1Floods11 order); if that is wrong, choose the bands above.")
