"""Helpers building small Sentinel-1 products with the real structure for the engine and plugin tests.

The GRD SAFE uses the committed real XML in tests/fixtures/s1_grd_tiny (see its make script);
measurement TIFFs (uint16 digital numbers) are written here, so tests choose the pixel values.
HyP3 RTC products and SNAP BEAM-DIMAP exports are written with their real file layout.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
from osgeo import gdal

from .rasters import write_geotiff

TINY_SAFE = Path(__file__).resolve().parents[1] / "fixtures" / "s1_grd_tiny"
#: The real product's first geolocation grid cell at its real geometry (orbit, timing, range polynomials).
CORNER_SAFE = Path(__file__).resolve().parents[1] / "fixtures" / "s1_grd_corner"
SAFE_NAME = "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8.SAFE"
MEASUREMENT = "s1b-iw-grd-{pol}-20210401t052623-20210401t052648-026269-032297-{n}.tiff"
#: The tiny product's measurement size (numberOfLines, numberOfSamples in its annotation).
TINY_SHAPE = (417, 644)
CORNER_SHAPE = (2004, 1291)
RTC_NAME = "S1A_IW_20180128T161201_DVP_RTC10_G_gpuned_FD6A"


def write_measurement(path: Path, dn: np.ndarray) -> None:
    """A GRD measurement TIFF: uint16 digital numbers, no map projection (as in real products)."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), dn.shape[1], dn.shape[0], 1, gdal.GDT_UInt16)
    ds.GetRasterBand(1).WriteArray(dn.astype(np.uint16))
    ds = None


def tiny_safe(folder: Path, vv_dn: np.ndarray, vh_dn: np.ndarray, source: Path = TINY_SAFE) -> Path:
    """A tiny GRD SAFE folder (real XML; ``source``: TINY_SAFE or CORNER_SAFE) with the given VV/VH digital
    numbers; returns the .SAFE path."""
    safe = folder / SAFE_NAME
    shutil.copytree(source / SAFE_NAME, safe)
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


def water_and_land(shape=TINY_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """DNs giving about -12 dB VH on the left half (land) and -25 dB on the right half (water)."""
    vh = np.full(shape, 86)
    vh[:, shape[1] // 2:] = 28
    vh[:5] = 0  # a no-data border, as real products have
    return np.where(vh > 0, 300, 0), vh


def sigma0_db(shape=(96, 128)) -> np.ndarray:
    """VV, VH in dB: a dark (water) block in dry land with speckle."""
    rng = np.random.default_rng(3)
    db = np.stack([np.full(shape, -9.0), np.full(shape, -16.0)]) + rng.normal(0, 1.5, (2, *shape))
    db[:, 30:70, 40:100] -= 12.0
    return db.astype(np.float32)


def rtc_product(folder: Path, db: np.ndarray, incidence_deg: np.ndarray | None, ls_map: np.ndarray) -> Path:
    """A HyP3 RTC product folder: gamma0 power = sigma0 / cos(incidence), layover/shadow map, inc map."""
    product = folder / RTC_NAME
    product.mkdir(parents=True)
    cos = np.cos(np.radians(incidence_deg if incidence_deg is not None else 37.5))
    for i, pol in enumerate(("VV", "VH")):
        write_geotiff(product / f"{RTC_NAME}_{pol}.tif", (10 ** (db[i] / 10) / cos).astype(np.float32), nodata=0)
    write_geotiff(product / f"{RTC_NAME}_ls_map.tif", ls_map.astype(np.uint8))
    if incidence_deg is not None:
        write_geotiff(product / f"{RTC_NAME}_inc_map.tif", np.radians(incidence_deg).astype(np.float32))
    (product / f"{RTC_NAME}.README.md.txt").write_text("RTC product\n")
    return product


DIM = """<?xml version="1.0" encoding="ISO-8859-1"?>
<Dimap_Document name="{name}.dim">
    <Data_Access>
        <DATA_FILE_FORMAT>ENVI</DATA_FILE_FORMAT>
        <Data_File><DATA_FILE_PATH href="{name}.data/Sigma0_VH.hdr" /><BAND_INDEX>0</BAND_INDEX></Data_File>
        <Data_File><DATA_FILE_PATH href="{name}.data/Sigma0_VV.hdr" /><BAND_INDEX>1</BAND_INDEX></Data_File>
    </Data_Access>
    <Image_Interpretation>
        <Spectral_Band_Info><BAND_INDEX>0</BAND_INDEX><BAND_NAME>Sigma0_VH</BAND_NAME>
            <PHYSICAL_UNIT>intensity</PHYSICAL_UNIT></Spectral_Band_Info>
        <Spectral_Band_Info><BAND_INDEX>1</BAND_INDEX><BAND_NAME>Sigma0_VV</BAND_NAME>
            <PHYSICAL_UNIT>intensity</PHYSICAL_UNIT></Spectral_Band_Info>
    </Image_Interpretation>
</Dimap_Document>
"""
ENVI_HDR = """ENVI
description = {{Sentinel-1 IW level-1 GRD product}}
samples = {width}
lines = {height}
bands = 1
header offset = 0
file type = ENVI Standard
data type = 4
interleave = bsq
byte order = 1
band names = {{ {band} }}
map info = {{UTM Zone 33, 1.0, 1.0, 500000.0, 4000000.0, 10.0, 10.0, 33, North, WGS84, units=Meters}}
"""


def snap_product(folder: Path, db: np.ndarray, name: str = "S1A_IW_GRDH_Cal_TC") -> Path:
    """A SNAP BEAM-DIMAP export: .dim XML plus .data/ ENVI files (big-endian float32, SNAP's byte order)."""
    data = folder / f"{name}.data"
    data.mkdir(parents=True)
    for i, pol in enumerate(("VV", "VH")):
        band = f"Sigma0_{pol}"
        (10 ** (db[i] / 10)).astype(">f4").tofile(data / f"{band}.img")
        (data / f"{band}.hdr").write_text(ENVI_HDR.format(width=db.shape[2], height=db.shape[1], band=band))
    dim = folder / f"{name}.dim"
    dim.write_text(DIM.format(name=name))
    return dim
