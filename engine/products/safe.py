"""Sentinel-1 GRD SAFE products (folder, ``manifest.safe`` or .zip): find and parse their files.

A SAFE holds, per polarisation, ``measurement/*.tiff`` (digital numbers), ``annotation/*.xml``
(image size, the geolocation grid = GCPs with incidence angles) and ``annotation/calibration/``
``calibration-*.xml`` / ``noise-*.xml`` (the LUTs). The XML is small and parsed here with
ElementTree; the pixels are read window by window by GDAL (``/vsizip/`` inside a zip) in
:mod:`.grd`, which calibrates, removes noise and geocodes them.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import FloodSarError
from .container import Container

#: Member names of a polarisation's files: s1a-iw-grd-vv-..., calibration-s1a-iw-grd-vv-...
_FILE = re.compile(r"(?:^|/)(calibration-|noise-)?s1[a-d]-[a-z0-9]+-(grd|slc)-(vv|vh|hh|hv)-[^/]*\.(xml|tiff?)$",
                   re.IGNORECASE)


@dataclass(frozen=True)
class LutVector:
    """One row of a LUT: its image line and the values at the given pixels."""

    line: int
    pixels: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class AzimuthBlock:
    """A noise azimuth LUT valid over lines/pixels [first, last] (IPF 2.9 and later)."""

    first_line: int
    last_line: int
    first_pixel: int
    last_pixel: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Polarisation:
    """One polarisation's files and LUTs."""

    measurement: str  # GDAL path
    calibration: list[LutVector]  # sigmaNought
    noise_range: list[LutVector]
    noise_azimuth: list[AzimuthBlock]


@dataclass(frozen=True)
class GcpGrid:
    """The annotation's geolocation grid: image line/pixel -> lon/lat (and height, incidence)."""

    line: np.ndarray
    pixel: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    height: np.ndarray
    incidence: np.ndarray


@dataclass(frozen=True)
class SafeProduct:
    name: str
    mode: str
    width: int
    height: int
    gcps: GcpGrid
    pols: dict[str, Polarisation]
    #: The VV annotation XML as read (orbit, timing and slant-to-ground-range polynomials for terrain correction).
    annotation: bytes


def parse(container: Container, manifest: str) -> SafeProduct:
    """Find and parse a SAFE's files; FloodSarError for an unusable product."""
    root = manifest[: -len("manifest.safe")]
    name = root.rstrip("/").split("/")[-1] or container.path.name
    files: dict[tuple[str, str], str] = {}
    for member in container.members:
        match = _FILE.search(member[len(root):]) if member.startswith(root) else None
        if match:
            prefix, kind, pol = (match.group(1) or "").lower(), match.group(2).lower(), match.group(3).upper()
            role = prefix.rstrip("-") or ("measurement" if match.group(4).lower().startswith("tif") else "annotation")
            files[(role, pol)] = member
            if kind == "slc":
                raise FloodSarError(f"{container.path}: is a Single Look Complex (SLC) product; FloodSAR reads GRD "
                                    "products: download the GRD (GRDH) product of this pass.")
    pols = sorted({pol for _, pol in files})
    if not {"VV", "VH"} <= set(pols):
        raise FloodSarError(f"{container.path}: holds {'/'.join(pols) or 'no'} polarisation(s) but the model needs "
                            "VV and VH; download a dual-polarisation (1SDV) GRD product.")
    for pol in ("VV", "VH"):
        missing = [role for role in ("measurement", "annotation", "calibration", "noise") if (role, pol) not in files]
        if missing:
            raise FloodSarError(f"{container.path}: the {pol} {', '.join(missing)} file(s) are missing; the product "
                                "is incomplete: download it again.")
    raw = {key: container.read(member) for key, member in files.items() if key[0] != "measurement"}
    xml = {key: _xml(container.label(files[key]), data) for key, data in raw.items()}
    annotation = xml[("annotation", "VV")]
    info = annotation.find("imageAnnotation/imageInformation")
    return SafeProduct(
        name=name,
        mode=annotation.findtext("adsHeader/mode", ""),
        width=int(info.findtext("numberOfSamples")),
        height=int(info.findtext("numberOfLines")),
        gcps=_gcps(annotation),
        pols={pol: Polarisation(container.gdal_path(files[("measurement", pol)]),
                                _vectors(xml[("calibration", pol)], "calibrationVector", "sigmaNought"),
                                _noise_range(xml[("noise", pol)]),
                                _noise_azimuth(xml[("noise", pol)]))
              for pol in ("VV", "VH")},
        annotation=raw[("annotation", "VV")])


def _xml(label: str, data: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise FloodSarError(f"{label}: is not readable XML ({exc}); the product is damaged: "
                            "download it again.") from exc


def _numbers(text: Optional[str], dtype: type = float) -> np.ndarray:
    return np.array((text or "").split(), dtype=dtype)


def _vectors(root: ElementTree.Element, tag: str, lut: str) -> list[LutVector]:
    return [LutVector(int(v.findtext("line")), _numbers(v.findtext("pixel"), int), _numbers(v.findtext(lut)))
            for v in root.iter(tag)]


def _noise_range(root: ElementTree.Element) -> list[LutVector]:
    """Range noise vectors (``noiseRangeVector``; before IPF 2.9 ``noiseVector``/``noiseLut``)."""
    return (_vectors(root, "noiseRangeVector", "noiseRangeLut")
            or _vectors(root, "noiseVector", "noiseLut"))


def _noise_azimuth(root: ElementTree.Element) -> list[AzimuthBlock]:
    return [AzimuthBlock(int(b.findtext("firstAzimuthLine")), int(b.findtext("lastAzimuthLine")),
                         int(b.findtext("firstRangeSample")), int(b.findtext("lastRangeSample")),
                         _numbers(b.findtext("line"), int), _numbers(b.findtext("noiseAzimuthLut")))
            for b in root.iter("noiseAzimuthVector")]


def _gcps(annotation: ElementTree.Element) -> GcpGrid:
    fields = ("line", "pixel", "longitude", "latitude", "height", "incidenceAngle")
    points = np.array([[float(p.findtext(f)) for f in fields] for p in annotation.iter("geolocationGridPoint")])
    return GcpGrid(*points.T)
