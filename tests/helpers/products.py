"""Helpers building small Sentinel-1 products with the real structure for product tests.

The GRD SAFE uses the committed real XML in tests/data/s1_grd_tiny (see its make script);
measurement TIFFs (uint16 digital numbers) are written here, so tests choose the pixel values.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
from osgeo import gdal

TINY_SAFE = Path(__file__).resolve().parents[1] / "data" / "s1_grd_tiny"
SAFE_NAME = "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE"
MEASUREMENT = "s1b-iw-grd-{pol}-20210401t052623-20210401t052648-026269-032297-{n}.tiff"
#: The tiny product's measurement size (numberOfLines, numberOfSamples in its annotation).
TINY_SHAPE = (417, 644)


def write_measurement(path: Path, dn: np.ndarray) -> None:
    """A GRD measurement TIFF: uint16 digital numbers, no map projection (as in real products)."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), dn.shape[1], dn.shape[0], 1, gdal.GDT_UInt16)
    ds.GetRasterBand(1).WriteArray(dn.astype(np.uint16))
    ds = None


def tiny_safe(folder: Path, vv_dn: np.ndarray, vh_dn: np.ndarray) -> Path:
    """A tiny GRD SAFE folder (real XML) with the given VV/VH digital numbers; returns the .SAFE path."""
    safe = folder / SAFE_NAME
    shutil.copytree(TINY_SAFE / SAFE_NAME, safe)
    (safe / "measurement").mkdir()
    for pol, n, dn in (("vv", "001", vv_dn), ("vh", "002", vh_dn)):
        write_measurement(safe / "measurement" / MEASUREMENT.format(pol=pol, n=n), dn)
    return safe


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` with the folder itself as the archive's top level (as download services do)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def full_size_safe(folder: Path, real_safe: Path) -> Path:
    """A full-size (25,788 x 16,685 px) GRD SAFE from the shared real product: its manifest, VV/VH
    annotation and VV measurement (placeholder DNs, linked for both polarisations), with the real
    calibration/noise XML of the same pass under the GRD's file names."""
    source = real_safe / SAFE_NAME
    safe = folder / SAFE_NAME
    (safe / "annotation" / "calibration").mkdir(parents=True)
    (safe / "measurement").mkdir()
    shutil.copy(source / "manifest.safe", safe / "manifest.safe")
    calibration = next((real_safe / "calibration_examples_slc").glob("calibration-*.xml"))
    noise = next((real_safe / "calibration_examples_slc").glob("noise-*.xml"))
    measurement = next((source / "measurement").glob("*.tiff"))
    for pol, n in (("vv", "001"), ("vh", "002")):
        stem = MEASUREMENT.format(pol=pol, n=n)[: -len(".tiff")]
        shutil.copy(source / "annotation" / f"{stem}.xml", safe / "annotation" / f"{stem}.xml")
        shutil.copy(calibration, safe / "annotation" / "calibration" / f"calibration-{stem}.xml")
        shutil.copy(noise, safe / "annotation" / "calibration" / f"noise-{stem}.xml")
        (safe / "measurement" / f"{stem}.tiff").symlink_to(measurement)
    return safe
