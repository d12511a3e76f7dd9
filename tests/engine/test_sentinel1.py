"""Sentinel-1 inputs: band selection, units detection, nodata rules and clear errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from osgeo import gdal

from floodsar.engine.errors import FloodSarError
from floodsar.engine.sentinel1 import open_sentinel1, polarisation
from helpers.rasters import write_geotiff

S1HAND = "sen1floods11/S1Hand/{}_S1Hand.tif"
DRIVENDATA = "stac_overflow/labelled/awc00_{}.tif"
VV_ONLY = "other/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif"


@pytest.fixture(scope="module")
def spain_db(real_data) -> np.ndarray:
    """The Spain chip's VV, VH in dB [2, 512, 512] (NaN = nodata)."""
    return gdal.Open(str(real_data / S1HAND.format("Spain_7370579"))).ReadAsArray()


def test_polarisation_from_names():
    assert polarisation("VV") == "VV" and polarisation("vh") == "VH"
    assert polarisation("Sigma0_VV_db") == "VV" and polarisation("awc00_vh") == "VH"
    assert polarisation("S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db") == "VV"
    assert polarisation("VVVH") is None and polarisation("VV_VH") is None and polarisation("") is None


def test_sen1floods11_chip(io, real_data, spain_db):
    with open_sentinel1([real_data / S1HAND.format("Spain_7370579")], io=io) as source:
        assert source.units == "db"
        assert source.band_names == ('Spain_7370579_S1Hand.tif band 1 "VV" (from its description)',
                                     'Spain_7370579_S1Hand.tif band 2 "VH" (from its description)')
        assert (source.grid.width, source.grid.height) == (512, 512)
        db, valid = source.read_db(-16, 0, 528, 512)
    assert db.dtype == np.float32 and db.shape == (2, 528, 512) and valid.shape == (528, 512)
    assert not valid[:16].any()
    np.testing.assert_array_equal(valid[16:], np.isfinite(spain_db).all(axis=0))
    np.testing.assert_array_equal(db[:, 16:][:, valid[16:]], spain_db[:, valid[16:]])
    assert np.isnan(db[:, ~valid]).all()


def test_drivendata_pair_with_zero_nodata(io, large_real_data):
    vv_path, vh_path = (large_real_data / DRIVENDATA.format(p) for p in ("vv", "vh"))
    raw = np.stack([gdal.Open(str(p)).ReadAsArray() for p in (vv_path, vh_path)])
    with open_sentinel1([vv_path, vh_path], io=io) as source:
        assert source.units == "db" and source.grid.pixel_size_m == pytest.approx(10.0)
        assert source.band_names == ("awc00_vv.tif band 1", "awc00_vh.tif band 1")
        db, valid = source.read_db(0, 0, 512, 512, fill=-99.0)
    expected_valid = (raw != 0).all(axis=0)
    assert 0.5 < expected_valid.mean() < 0.9  # the chip has real nodata borders
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(db[:, valid], raw[:, valid])
    assert (db[:, ~valid] == -99.0).all()


def test_vv_only_scene_is_refused_clearly(large_real_data):
    with pytest.raises(FloodSarError, match=r"VV-only.*needs both VV and VH.*the VV file with its VH file"):
        open_sentinel1([large_real_data / VV_ONLY])


def test_all_nan_chip_reads_as_all_invalid(real_data):
    with open_sentinel1([real_data / S1HAND.format("Paraguay_34417")]) as source:
        assert source.units == "db" and "No valid pixels" in source.describe()
        assert "Nodata: NaN, +-inf, pixels 0 in both bands\n" in source.describe()  # NaN flag: no extra value
        _, valid = source.read_db(0, 0, 512, 512)
    assert not valid.any()


def test_linear_power_is_detected_and_converted(io, tmp_path, spain_db):
    linear = (10 ** (spain_db / 10)).astype(np.float32)
    linear[:, :, :40] = 0.0          # unflagged zero border
    linear[0, 100, 100] = -0.001     # a non-positive value is nodata in linear units
    linear[1, 200, 200] = np.inf
    path = write_geotiff(tmp_path / "linear.tif", linear, descriptions=("Sigma0_VV", "Sigma0_VH"))
    with open_sentinel1([path], io=io) as source:
        assert source.units == "linear" and "detected" in source.units_reason
        db, valid = source.read_db(0, 0, 512, 512)
    expected = np.isfinite(spain_db).all(axis=0)
    expected[:, :40] = False
    expected[100, 100] = expected[200, 200] = False
    np.testing.assert_array_equal(valid, expected)
    np.testing.assert_allclose(db[:, valid], spain_db[:, valid], atol=1e-4)


def test_units_can_be_forced_and_ambiguous_values_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    odd = rng.uniform(20, 80, (2, 64, 64)).astype(np.float32)  # e.g. uncalibrated amplitude
    path = write_geotiff(tmp_path / "odd.tif", odd)
    with pytest.raises(FloodSarError, match=r"odd\.tif.*dB or linear.*units db or units linear"):
        open_sentinel1([path])
    with open_sentinel1([path], units="linear") as source:
        assert source.units == "linear" and source.units_reason == "set by the user"
        db, _ = source.read_db(0, 0, 64, 64)
    np.testing.assert_allclose(db, 10 * np.log10(odd), rtol=1e-5)


def test_descriptions_in_swapped_order(io, tmp_path, spain_db):
    path = write_geotiff(tmp_path / "swapped.tif", spain_db[::-1].copy(), descriptions=("VH", "VV"))
    with open_sentinel1([path], io=io) as source:
        assert source.band_names[0].startswith('swapped.tif band 2 "VV"')
        db, valid = source.read_db(0, 0, 512, 512)
    np.testing.assert_array_equal(db[:, valid], spain_db[:, valid])


def test_band_order_without_descriptions(tmp_path, spain_db):
    two = write_geotiff(tmp_path / "two.tif", spain_db)
    with open_sentinel1([two]) as source:
        assert "assumed: Sen1Floods11 order" in source.band_names[0]
    with open_sentinel1([two], vv_band=2) as source:  # the other band is VH
        assert source.band_names == ("two.tif band 2 (as given)", "two.tif band 1 (the other band)")
    three = write_geotiff(tmp_path / "three.tif", np.concatenate([spain_db, spain_db[:1]]))
    with pytest.raises(FloodSarError, match=r"three\.tif: has 3 bands.*VV band N, VH band M"):
        open_sentinel1([three])
    with open_sentinel1([three], vv_band=3, vh_band=2) as source:
        db, valid = source.read_db(0, 0, 512, 512)
        np.testing.assert_array_equal(db[:, valid], spain_db[:, valid])
    with pytest.raises(FloodSarError, match="has 3 band.*VH band 7 does not exist"):
        open_sentinel1([three], vv_band=1, vh_band=7)


def test_one_band_file_is_refused(tmp_path, spain_db):
    path = write_geotiff(tmp_path / "scene.tif", spain_db[0])
    with pytest.raises(FloodSarError, match=r"scene\.tif: is a 1-band raster.*VV and VH"):
        open_sentinel1([path])


def test_two_files_in_the_wrong_order_or_on_different_grids(tmp_path, spain_db):
    vv = write_geotiff(tmp_path / "scene_VV.tif", spain_db[0])
    vh = write_geotiff(tmp_path / "scene_VH.tif", spain_db[1])
    with pytest.raises(FloodSarError, match=r"scene_VH\.tif: looks like VH.*VV file first"):
        open_sentinel1([vh, vv])
    shifted = write_geotiff(tmp_path / "shifted_vh.tif", spain_db[1], transform=(500010.0, 10, 0, 4000000.0, 0, -10))
    with pytest.raises(FloodSarError, match=r"shifted_vh\.tif: is not on the same grid.*align"):
        open_sentinel1([vv, shifted])
    other_crs = write_geotiff(tmp_path / "other_vh.tif", spain_db[1], epsg=32634)
    with pytest.raises(FloodSarError, match="not on the same grid"):
        open_sentinel1([vv, other_crs])
    cropped = write_geotiff(tmp_path / "cropped_vh.tif", spain_db[1, :500])
    with pytest.raises(FloodSarError, match="not on the same grid"):
        open_sentinel1([vv, cropped])
    with pytest.raises(FloodSarError, match="got 3 input files"):
        open_sentinel1([vv, vh, vh])


def test_reads_from_several_threads_match_serial_reads(large_real_data):
    paths = [large_real_data / DRIVENDATA.format(p) for p in ("vv", "vh")]
    windows = [(r, c, 96, 96) for r in range(-32, 512, 80) for c in range(-32, 512, 80)]
    with open_sentinel1(paths) as source:
        serial = [source.read_db(*w) for w in windows]
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def work(indices: range) -> None:
            for i in indices:
                results[i] = source.read_db(*windows[i])

        threads = [threading.Thread(target=work, args=(range(k, len(windows), 4),)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, (db, valid) in enumerate(serial):
        np.testing.assert_array_equal(results[i][1], valid)
        np.testing.assert_array_equal(results[i][0], db)


def test_describe_says_what_the_engine_will_do(large_real_data):
    vv, vh = (large_real_data / DRIVENDATA.format(p) for p in ("vv", "vh"))
    with open_sentinel1([vv, vh]) as source:
        text = source.describe()
    for expected in ("awc00_vv.tif", "VV: awc00_vv.tif band 1", "VH: awc00_vh.tif band 1", "Units: dB (detected",
                     "Size: 512 x 512 pixels", "UTM zone 20S", "Pixel size: about 10.0 m",
                     "Nodata: NaN, +-inf, pixels 0 in both bands, flagged value 0"):
        assert expected in text
    assert "Warning" not in text and "Warning" not in source.describe(native_m=10)
    assert "Warning: The pixel size is about 10.0 m but the model expects 30 m" in source.describe(native_m=30)


def test_units_detection_reads_a_bounded_sample_of_a_large_raster(tmp_path, real_data):
    """A 40,960 x 40,960 px mosaic (a VRT of the Spain chip): detection samples, never reads it all."""
    chip, n = real_data / S1HAND.format("Spain_7370579"), 80
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{b}"><Description>{d}</Description>' + "".join(
            f'<SimpleSource><SourceFilename>{chip}</SourceFilename><SourceBand>{b}</SourceBand>'
            f'<SrcRect xOff="0" yOff="0" xSize="512" ySize="512"/><DstRect xOff="{512 * i}" yOff="{512 * j}" xSize="512" ySize="512"/></SimpleSource>'
            for i in range(n) for j in range(n)) + "</VRTRasterBand>" for b, d in ((1, "VV"), (2, "VH")))
    vrt = tmp_path / "mosaic.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="{512 * n}" rasterYSize="{512 * n}"><SRS>EPSG:32630</SRS>'
                   f'<GeoTransform>400000, 10, 0, 4500000, 0, -10</GeoTransform>{bands}</VRTDataset>')
    with open_sentinel1([vrt]) as source:
        assert source.units == "db" and source.grid.width == 40960
        sample = source._sample()
    assert 0 < sample.size <= 2 * 8 * 8 * 64 * 64
