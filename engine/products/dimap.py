"""SNAP BEAM-DIMAP products: ``NAME.dim`` (XML) with ``NAME.data/Sigma0_VV.img`` + ``.hdr`` (ENVI).

GDAL reads the ENVI ``.img`` files; the ``.dim`` says which file holds which band and its unit
(``intensity`` = linear power, ``dB``). Sigma0 bands are preferred, Gamma0 (SNAP terrain
flattening) is read with a warning, Beta0 is refused. A product that SNAP has not geocoded
(no Terrain-Correction step) has no map projection and is refused with that advice.
"""
from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable, Optional

from .. import raster_io
from ..errors import FloodSarError
from ..raster_io import RasterIO
from ..polarisation import polarisation
from .container import Container
from .product import Product

#: Calibrations usable as model input, preferred first.
CALIBRATIONS = ("sigma0", "gamma0")


def read(container: Container, io: RasterIO) -> Optional[Product]:
    """A Product for a folder or zip holding one .dim product, else None."""
    dims = container.ending(".dim")
    if len(dims) != 1:
        return None
    folder = posixpath.dirname(dims[0])
    return _product(container.read(dims[0]), container.label(dims[0]),
                    lambda href: container.gdal_path(posixpath.normpath(posixpath.join(folder, href))))


def read_dim(path: Path, io: RasterIO) -> Product:
    """A Product for a .dim file given directly."""
    return _product(path.read_bytes(), str(path), lambda href: str(path.parent / href))


def _product(xml: bytes, label: str, locate: Callable[[str], str]) -> Product:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise FloodSarError(f"{label}: is not a readable BEAM-DIMAP file ({exc}); export it from SNAP again.") from exc
    files = {f.findtext("BAND_INDEX"): f.find("DATA_FILE_PATH").get("href")
             for f in root.iter("Data_File") if f.find("DATA_FILE_PATH") is not None}
    bands = {}  # (calibration, polarisation) -> (ENVI .img path, unit)
    for info in root.iter("Spectral_Band_Info"):
        name, unit = info.findtext("BAND_NAME", ""), info.findtext("PHYSICAL_UNIT", "")
        calibration, pol = name.split("_")[0].lower(), polarisation(name)
        href = files.get(info.findtext("BAND_INDEX"))
        if pol and href:
            bands[(calibration, pol)] = (locate(href[: -len(".hdr")] + ".img"), _units(name, unit))
    for calibration in CALIBRATIONS:
        found = [bands.get((calibration, pol)) for pol in ("VV", "VH")]
        if all(found):
            break
    else:
        names = ", ".join(f"{c}_{p}" for c, p in sorted(bands)) or "none"
        raise FloodSarError(f"{label}: has no Sigma0 (or Gamma0) VV and VH bands (found: {names}); calibrate to "
                            "Sigma0 in SNAP (Radar > Radiometric > Calibrate), keeping VV and VH.")
    (vv, vv_units), (vh, vh_units) = found
    if vv_units != vh_units:
        raise FloodSarError(f"{label}: VV is in {vv_units} but VH in {vh_units}; export both in the same unit.")
    warnings = [] if calibration == "sigma0" else [
        "This SNAP product holds Gamma0 (terrain flattened) and the model was trained on Sigma0: flat-terrain "
        "water is about 1 dB brighter in Gamma0 (1/cos(incidence)); export Sigma0 for the best results."]
    return Product(kind=f"SNAP BEAM-DIMAP product ({raster_io.file_name(label)}, {calibration.capitalize()})",
                   paths=[vv, vh], units=vv_units, units_reason="from the BEAM-DIMAP band unit",
                   steps=[f"reads {raster_io.file_name(vv)} and {raster_io.file_name(vh)} (ENVI) with GDAL"],
                   warnings=warnings)


def _units(name: str, unit: str) -> str:
    return "db" if unit.strip().lower() == "db" or name.lower().endswith("_db") else "linear"
