"""Sentinel-1 products as users download them: GRD SAFE (folder, manifest.safe, .zip), HyP3 RTC,
SNAP BEAM-DIMAP, zipped GeoTIFFs and /vsizip/ paths, COGs over HTTP (a real local server).

The GRD fixture is the real product XML in tests/fixtures/s1_grd_tiny with measurement TIFFs written here.
"""
from __future__ import annotations

import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage

from floodsar.engine.cli import main
from floodsar.engine.errors import FloodSarError
from floodsar.engine.flood import FloodOptions
from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.engine.products import calibration, grd, resolve, safe
from floodsar.engine.products.container import Container
from floodsar.engine.rasterio_io import RasterioIO
from floodsar.engine.sentinel1 import open_sentinel1

from helpers.products import (RTC_NAME, SAFE_NAME, TINY_SHAPE, rtc_product, sigma0_db, snap_product, tiny_safe,
                              water_and_land, zip_folder)
from helpers.rasters import write_geotiff


def _read(inputs, io=None):
    with open_sentinel1(inputs, io=io) as source:
        return source.read_db(0, 0, source.grid.height, source.grid.width)


# ---------------------------------------------------------------- GRD SAFE

def test_calibration_and_noise_match_a_hand_computation(tmp_path):
    """sigma0 = (DN^2 - noiseRange x noiseAzimuth) / sigmaNought^2, numbers read off the XML by hand."""
    product = safe.parse(Container(tiny_safe(tmp_path, *(np.full(TINY_SHAPE, 200),) * 2)), "manifest.safe")
    dn = np.full((1, 3), 200.0)
    got = calibration.sigma0(dn, product.pols["VV"], 27, 40)
    # line 27, pixel 40: sigmaNought 328.9909 (a node); noiseRangeLut 423.0706 (line 0) and 437.7556 (line 38)
    # interpolated at 27/38; noiseAzimuthLut 1.032790 at line 27.
    noise = (423.0706 + (437.7556 - 423.0706) * 27 / 38) * 1.032790
    assert got[0, 0] == pytest.approx((200.0 ** 2 - noise) / 328.9909 ** 2, rel=1e-6)
    assert got[0, 0] == pytest.approx(0.365426, rel=1e-4)
    assert np.isnan(calibration.sigma0(np.zeros((1, 1)), product.pols["VV"], 27, 40)).all()
    dark = calibration.sigma0(np.full((1, 1), 5.0), product.pols["VV"], 27, 40)
    assert dark[0, 0] == pytest.approx(calibration.SIGMA0_FLOOR)  # noise removal below zero: floored, not nodata


def test_geocoding_puts_each_gcp_where_the_annotation_says(io, tmp_path):
    """Each GCP's longitude/latitude maps back to the centre of its line/pixel, and the per-window
    coordinates (exact every STEP pixels, linear in between) stay within 1/20 px of the exact transform."""
    product = resolve([tiny_safe(tmp_path, *(np.ones(TINY_SHAPE),) * 2)], io)
    raster = product.raster
    gcps = safe.parse(Container(tmp_path / SAFE_NAME), "manifest.safe").gcps
    x, y = io.transform_points(io.epsg_wkt(4326), raster.grid.crs_wkt, gcps.lon, gcps.lat)
    lines, pixels = raster.to_radar(x, y)
    np.testing.assert_allclose(lines, gcps.line + 0.5, atol=1e-3)
    np.testing.assert_allclose(pixels, gcps.pixel + 0.5, atol=1e-3)
    block = (100, 200, 100 + 3 * grd.STEP + 5, 200 + 4 * grd.STEP + 7)
    lines, pixels = raster.radar_coordinates(*block)
    rows, cols = np.mgrid[block[0]:block[2], block[1]:block[3]] + 0.5
    x0, dx, _, y0, _, dy = raster.grid.transform
    exact = raster.to_radar((x0 + cols * dx).ravel(), (y0 + rows * dy).ravel())
    assert np.abs(lines.ravel() - exact[0]).max() < 0.05 and np.abs(pixels.ravel() - exact[1]).max() < 0.05
    raster.close()


def test_grd_info_from_folder_manifest_and_zip(tmp_path, capsys):
    folder = tiny_safe(tmp_path, *water_and_land())
    archive = zip_folder(folder, tmp_path / (SAFE_NAME[:-5] + ".zip"))
    for path in (folder, folder / "manifest.safe", archive):
        assert main(["info", str(path)]) == 0
        out = capsys.readouterr().out
        assert "Product: Sentinel-1 IW GRD SAFE product" in out
        assert "calibration to sigma0" in out and "thermal noise removal" in out
        assert "geocoding on the ellipsoid" in out and "(EPSG:32632) at 10 m" in out
        assert "500 m of relief at 35 deg moves a pixel about 714 m" in out
        assert "pass a DEM (--dem) for terrain-corrected geocoding" in " ".join(out.split())
        assert "Units: linear power" in out


def test_grd_zip_maps_end_to_end(io, tmp_path, pointwise_model):
    archive = zip_folder(tiny_safe(tmp_path, *water_and_land()), tmp_path / "product.zip")
    result = predict(PredictionRequest(inputs=[archive], output=tmp_path / "water.tif",
                                       model=pointwise_model, io=io))
    mask = gdal.Open(str(result.output)).ReadAsArray()
    with open_sentinel1([archive], io=io) as source:
        assert mask.shape == (source.grid.height, source.grid.width)
    assert (mask == 1).any() and (mask == 0).any() and (mask == 255).any()
    rows = np.nonzero((mask != 255).any(axis=1))[0]
    middle = mask[rows[len(rows) // 2]]
    valid = np.nonzero(middle != 255)[0]
    classes = middle[valid]
    assert 0.3 < classes.mean() < 0.7 and np.count_nonzero(np.diff(classes)) == 1  # land and water halves


def test_rasterio_and_gdal_geocode_alike(tmp_path):
    folder = tiny_safe(tmp_path, *water_and_land())
    a, va = _read([folder], RasterioIO())
    b, vb = _read([folder], GdalIO())
    both = ndimage.binary_erosion(va & vb, iterations=2)  # the footprint's edge pixels may differ
    assert both.sum() > 0.9 * max(va.sum(), vb.sum())
    np.testing.assert_allclose(a[:, both], b[:, both], atol=1e-3)


def test_grd_refuses_incomplete_products(tmp_path):
    folder = tiny_safe(tmp_path, *water_and_land())
    next((folder / "measurement").glob("*-vh-*")).unlink()
    with pytest.raises(FloodSarError, match="VH measurement file"):
        resolve([folder])
    for path in (folder / "annotation" / "calibration").glob("*-vh-*"):
        path.unlink()
    for path in (folder / "annotation").glob("*-vh-*"):
        path.unlink()
    with pytest.raises(FloodSarError, match="holds VV polarisation.*1SDV"):
        resolve([folder])


def test_grd_refuses_a_measurement_of_the_wrong_size(tmp_path):
    folder = tiny_safe(tmp_path, np.ones((40, 40)), np.ones((40, 40)))
    with pytest.raises(FloodSarError, match="is 40 x 40 pixels but its annotation says 644 x 417"):
        resolve([folder])


# ---------------------------------------------------------------- HyP3 RTC

def test_zipped_rtc_maps_like_the_same_data_as_a_db_geotiff(io, tmp_path, pointwise_model):
    db = sigma0_db()
    incidence = np.linspace(31.0, 44.0, db.shape[2])[None].repeat(db.shape[1], axis=0)
    ls_map = np.ones(db.shape[1:], dtype=np.uint8)
    ls_map[:10, :20] = 1 | 4  # layover
    ls_map[80:, 100:] = 1 | 16  # shadow
    archive = zip_folder(rtc_product(tmp_path / "rtc", db, incidence, ls_map), tmp_path / f"{RTC_NAME}.zip")
    expected_db = db.copy()
    expected_db[:, (ls_map & 20) != 0] = np.nan
    geotiff = write_geotiff(tmp_path / "same.tif", expected_db, descriptions=("VV", "VH"))
    masks = []
    for inputs, name in (([archive], "rtc.tif"), ([geotiff], "geotiff.tif")):
        result = predict(PredictionRequest(inputs=inputs, output=tmp_path / name, model=pointwise_model, io=io))
        masks.append(gdal.Open(str(result.output)).ReadAsArray())
    np.testing.assert_array_equal(masks[0], masks[1])
    assert (masks[0][:10, :20] == 255).all() and (masks[0][80:, 100:] == 255).all()
    assert (masks[0] == 1).sum() > 1000 and (masks[0] == 0).sum() > 1000


def test_rtc_layover_and_shadow_are_the_excluded_class(io, tmp_path, pointwise_model):
    """With flood classes, the product's layover/shadow pixels are class 3, as the same data as a dB GeoTIFF
    with that map given as an exclusion mask; without, they stay nodata (above)."""
    db = sigma0_db()
    ls_map = np.ones(db.shape[1:], dtype=np.uint8)
    ls_map[:10, :20] = 1 | 4  # layover
    ls_map[40:60, 50:90] = 1 | 16  # shadow inside the dark block
    archive = zip_folder(rtc_product(tmp_path / "rtc", db, None, ls_map), tmp_path / f"{RTC_NAME}.zip")
    geotiff = write_geotiff(tmp_path / "same.tif", db, descriptions=("VV", "VH"))
    layover_shadow = write_geotiff(tmp_path / "ls.tif", ((ls_map & 20) != 0).astype(np.uint8))
    no_water = write_geotiff(tmp_path / "no_water.tif", np.zeros(db.shape[1:], np.uint8))
    maps = []
    for inputs, exclude in (([archive], []), ([geotiff], [layover_shadow])):
        flood = FloodOptions(reference_water=no_water, exclude=exclude)
        result = predict(PredictionRequest(inputs=inputs, output=tmp_path / f"{len(maps)}.tif", model=pointwise_model,
                                           flood=flood, io=io))
        maps.append(gdal.Open(str(result.output)).ReadAsArray())
    np.testing.assert_array_equal(maps[0], maps[1])
    assert (maps[0][(ls_map & 20) != 0] == 3).all() and (maps[0][(ls_map & 20) == 0] != 3).all()
    assert (maps[0] == 1).sum() > 1000 and (maps[0] == 0).sum() > 1000


def test_rtc_info_says_gamma0_and_how_it_is_corrected(tmp_path, capsys):
    db = sigma0_db()
    folder = rtc_product(tmp_path, db, None, np.ones(db.shape[1:]))
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "HyP3 RTC product" in out and "gamma0, power scale" in out
    assert "gamma0 converted to sigma0" in out and "37.5 deg" in out
    assert "without an incidence angle map" in out
    got, _ = _read([folder])
    np.testing.assert_allclose(got, db, atol=1e-3)  # cos(37.5 deg) undone exactly


# ---------------------------------------------------------------- SNAP BEAM-DIMAP

def test_snap_beam_dimap(io, tmp_path, capsys):
    db = sigma0_db()
    dim = snap_product(tmp_path, db)
    got, valid = _read([dim], io)
    assert valid.all()
    np.testing.assert_allclose(got, db, atol=1e-4)  # VV first although the .dim lists VH first
    assert main(["info", str(dim)]) == 0
    out = capsys.readouterr().out
    assert "SNAP BEAM-DIMAP product" in out and "from the BEAM-DIMAP band unit" in out
    assert "Pixel size: about 10.0 m" in out


def test_snap_product_without_sigma0_is_refused(tmp_path):
    dim = snap_product(tmp_path, sigma0_db())
    dim.write_text(dim.read_text().replace("Sigma0_", "Beta0_"))
    with pytest.raises(FloodSarError, match="no Sigma0 .or Gamma0. VV and VH bands.*Calibrate"):
        resolve([dim])


# ---------------------------------------------------------------- zips, /vsizip/, HTTP

def test_zipped_geotiffs_and_vsizip_paths(tmp_path):
    db = sigma0_db()
    vv = write_geotiff(tmp_path / "scene_VV.tif", db[0])
    vh = write_geotiff(tmp_path / "scene_VH.tif", db[1])
    both = write_geotiff(tmp_path / "both.tif", db, descriptions=("VV", "VH"))
    pair, single = tmp_path / "pair.zip", tmp_path / "single.zip"
    with zipfile.ZipFile(pair, "w") as out:
        out.write(vh, "scene_VH.tif")
        out.write(vv, "scene_VV.tif")
    with zipfile.ZipFile(single, "w") as out:
        out.write(both, "inner/both.tif")
    for inputs in ([pair], [single], [f"/vsizip/{single}/inner/both.tif"]):
        got, _ = _read(inputs)
        np.testing.assert_allclose(got, db, atol=1e-6)
    assert "zipped GeoTIFF" in resolve([pair]).kind
    with pytest.raises(FloodSarError, match="file not found"):
        resolve([tmp_path / "missing.zip"])


def test_cog_over_http(io, tmp_path, http_folder, capsys):
    db = sigma0_db((600, 700))
    tiff = write_geotiff(tmp_path / "plain.tif", db, descriptions=("VV", "VH"))
    gdal.Translate(str(tmp_path / "scene.tif"), str(tiff), format="COG")
    url = f"{http_folder}/scene.tif"
    for inputs in ([url], [f"/vsicurl/{url}"]):
        got, _ = _read(inputs, io)
        np.testing.assert_allclose(got, db, atol=1e-6)
    assert main(["info", url]) == 0
    assert "read over HTTP" in capsys.readouterr().out
    with pytest.raises(FloodSarError, match="missing.tif"):
        _read([f"{http_folder}/missing.tif"], io)


@pytest.mark.slow
def test_full_size_grd_maps_in_bounded_memory(tmp_path, large_real_data, pointwise_model):
    """The shared full-size GRD (25,788 x 16,685 px per polarisation) mapped end to end in a fresh
    process: peak memory stays far below the ~1.7 GB one polarisation's sigma0 would take at once."""
    from helpers.products import full_size_safe

    product = full_size_safe(tmp_path, large_real_data / "safe")
    script = ("import resource, sys; from floodsar.engine.cli import main; code = main(sys.argv[1:]); "
              "print('peak_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024); sys.exit(code)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, "predict", str(product), "-o", str(tmp_path / "water.tif"),
                           "--model", str(pointwise_model)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split("peak_mb")[-1])
    print(f"full-size GRD mapped in {time.monotonic() - started:.0f} s, peak RSS {peak_mb} MB")  # pytest -s shows it
    assert peak_mb < 1200, peak_mb
    mask = gdal.Open(str(tmp_path / "water.tif"))
    assert mask.RasterXSize > 25000 and mask.RasterYSize > 15000
