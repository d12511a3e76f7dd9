"""Build tests/data/s1_grd_tiny/ from the real product XML in ../shared/data/real/safe (run once; output committed).

The tiny product keeps the real structure and values of a Sentinel-1B IW GRDH product (manifest,
annotation geolocation grid with heights and incidence angles, calibration and noise LUTs of the
same pass) but shrinks its image SCALE times: line/pixel positions are divided by SCALE and the
GCP longitudes/latitudes are pulled towards the scene centre by the same factor, so pixels stay
about 10 m on the ground. LUT vectors are thinned so their scaled positions stay distinct integers.
The calibration/noise XML is from the SLC of the same pass (the shared GRD has none); VH uses the
VV LUTs. Source: bopen/xarray-sentinel tests/data (Apache-2.0), see LICENSE-xarray-sentinel.txt.
"""
from __future__ import annotations

import shutil
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

SCALE = 40
SAFE_NAME = "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE"
STEM = "s1b-iw-grd-{pol}-20210401t052623-20210401t052648-026269-032297-{n}"


def _ints(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=float)


def _join(values, fmt: str = "{:.6e}") -> str:
    return " ".join(fmt.format(v) for v in values)


def _scaled(values: np.ndarray) -> np.ndarray:
    return np.round(values / SCALE).astype(int)


def annotation(src: Path, pol: str) -> ElementTree.Element:
    real = ElementTree.parse(src).getroot()
    root = ElementTree.Element("product")
    root.append(real.find("adsHeader"))
    info = real.find("imageAnnotation/imageInformation")
    image = ElementTree.SubElement(ElementTree.SubElement(root, "imageAnnotation"), "imageInformation")
    for tag in ("numberOfSamples", "numberOfLines"):
        ElementTree.SubElement(image, tag).text = str(int(info.findtext(tag)) // SCALE)
    for tag in ("rangePixelSpacing", "azimuthPixelSpacing", "incidenceAngleMidSwath"):
        ElementTree.SubElement(image, tag).text = info.findtext(tag)
    points = list(real.iter("geolocationGridPoint"))
    lon = np.array([float(p.findtext("longitude")) for p in points])
    lat = np.array([float(p.findtext("latitude")) for p in points])
    centre_lon, centre_lat = lon.mean(), lat.mean()
    grid = ElementTree.SubElement(ElementTree.SubElement(root, "geolocationGrid"), "geolocationGridPointList",
                                  count=str(len(points)))
    for p in points:
        point = ElementTree.SubElement(grid, "geolocationGridPoint")
        ElementTree.SubElement(point, "line").text = str(int(p.findtext("line")) / SCALE)
        ElementTree.SubElement(point, "pixel").text = str(int(p.findtext("pixel")) / SCALE)
        for tag, centre in (("longitude", centre_lon), ("latitude", centre_lat)):
            ElementTree.SubElement(point, tag).text = repr(centre + (float(p.findtext(tag)) - centre) / SCALE)
        for tag in ("height", "incidenceAngle"):
            ElementTree.SubElement(point, tag).text = p.findtext(tag)
    return root


def lut_file(src: Path, root_tag: str, list_tag: str, vector_tag: str, lut_tags: tuple[str, ...],
             thin: int = 4) -> ElementTree.Element:
    real = ElementTree.parse(src).getroot()
    root = ElementTree.Element(root_tag)
    root.append(real.find("adsHeader"))
    vectors = list(real.iter(vector_tag))
    out = ElementTree.SubElement(root, list_tag, count=str(len(vectors)))
    for v in vectors:
        vector = ElementTree.SubElement(out, vector_tag)
        ElementTree.SubElement(vector, "line").text = str(int(round(int(v.findtext("line")) / SCALE)))
        pixels = _ints(v.findtext("pixel"))[::thin]
        ElementTree.SubElement(vector, "pixel", count=str(len(pixels))).text = _join(_scaled(pixels), "{:d}")
        for tag in lut_tags:
            ElementTree.SubElement(vector, tag, count=str(len(pixels))).text = _join(_ints(v.findtext(tag))[::thin])
    return root


def azimuth_blocks(src: Path, thin: int = SCALE // 10) -> ElementTree.Element:
    real = ElementTree.parse(src).getroot()
    blocks = list(real.iter("noiseAzimuthVector"))
    out = ElementTree.Element("noiseAzimuthVectorList", count=str(len(blocks)))
    for b in blocks:
        block = ElementTree.SubElement(out, "noiseAzimuthVector")
        ElementTree.SubElement(block, "swath").text = b.findtext("swath")
        for tag in ("firstAzimuthLine", "firstRangeSample", "lastAzimuthLine", "lastRangeSample"):
            ElementTree.SubElement(block, tag).text = str(int(b.findtext(tag)) // SCALE)
        lines = _ints(b.findtext("line"))[::thin]
        ElementTree.SubElement(block, "line", count=str(len(lines))).text = _join(_scaled(lines), "{:d}")
        values = _ints(b.findtext("noiseAzimuthLut"))[::thin]
        ElementTree.SubElement(block, "noiseAzimuthLut", count=str(len(values))).text = _join(values)
    return out


def write(element: ElementTree.Element, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.indent(element)
    ElementTree.ElementTree(element).write(path, encoding="utf-8", xml_declaration=True)


def main(real_safe: Path, out: Path) -> None:
    src = real_safe / SAFE_NAME
    cal_src = next((real_safe / "calibration_examples_slc").glob("calibration-*.xml"))
    noise_src = next((real_safe / "calibration_examples_slc").glob("noise-*.xml"))
    safe = out / SAFE_NAME
    shutil.rmtree(safe, ignore_errors=True)
    (safe / "annotation" / "calibration").mkdir(parents=True)
    shutil.copy(src / "manifest.safe", safe / "manifest.safe")
    for pol, n in (("vv", "001"), ("vh", "002")):
        stem = STEM.format(pol=pol, n=n)
        write(annotation(src / "annotation" / f"{stem}.xml", pol), safe / "annotation" / f"{stem}.xml")
        write(lut_file(cal_src, "calibration", "calibrationVectorList", "calibrationVector", ("sigmaNought",)),
              safe / "annotation" / "calibration" / f"calibration-{stem}.xml")
        noise = lut_file(noise_src, "noise", "noiseRangeVectorList", "noiseRangeVector", ("noiseRangeLut",))
        noise.append(azimuth_blocks(noise_src))
        write(noise, safe / "annotation" / "calibration" / f"noise-{stem}.xml")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
