"""Raster I/O: grid geometry, the choice of implementation, windowed reads, input errors and safe writes,
on both implementations."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from floodsar.engine import raster_io
from floodsar.engine.errors import FloodSarError
from floodsar.engine.formats import overview_factors
from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.grid import RasterGrid, resolution_warning
from floodsar.engine.io_choice import choose_io
from floodsar.engine.rasterio_io import RasterioIO
from floodsar.engine.safe_write import atomic_output, check_writable
from helpers.rasters import UTM_TRANSFORM, unwritable_folder, write_geotiff

SPAIN = "sen1floods11/S1Hand/Spain_7370579_S1Hand.tif"


def wkt(epsg: int) -> str:
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def test_pixel_size_projected_geographic_and_feet(io):
    """The chosen implementation reads the CRS units (each one, in turn)."""
    assert io.grid(10, 10, wkt(32633), UTM_TRANSFORM).pixel_size_m == pytest.approx(10.0)
    # 1/1000 degree at the equator is ~111 m; at 60 degrees north the x size halves.
    equator = io.grid(100, 100, wkt(4326), (10.0, 0.001, 0.0, 0.05, 0.0, -0.001))
    assert equator.pixel_size_m == pytest.approx(111.19, rel=1e-3)
    north = io.grid(100, 100, wkt(4326), (10.0, 0.001, 0.0, 60.05, 0.0, -0.001))
    assert north.pixel_size_m == pytest.approx(111.19 * np.sqrt(0.5), rel=1e-3)
    feet = io.grid(10, 10, wkt(2263), (980000.0, 10.0, 0.0, 200000.0, 0.0, -10.0))  # US survey feet
    assert feet.pixel_size_m == pytest.approx(3.048, rel=1e-4)
    assert io.grid(10, 10, "not a CRS", UTM_TRANSFORM).pixel_size_m is None
    assert RasterGrid(10, 10, wkt(32633), UTM_TRANSFORM).pixel_size_m is None  # units not read: unknown


def test_resolution_warning_only_when_far_from_native(io):
    assert resolution_warning(io.grid(10, 10, wkt(32633), UTM_TRANSFORM), 10) is None
    coarse = io.grid(10, 10, wkt(32633), (500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0))
    message = resolution_warning(coarse, 10)
    assert message is not None and "30.0 m" in message and "gdalwarp -tr 10 10" in message
    fine = io.grid(10, 10, wkt(32633), (500000.0, 5.0, 0.0, 4000000.0, 0.0, -5.0))
    assert resolution_warning(fine, 10) is not None


def test_choose_io(monkeypatch):
    assert isinstance(choose_io("gdal"), GdalIO) and choose_io("gdal").name == "gdal"
    assert isinstance(choose_io("rasterio"), RasterioIO) and choose_io("rasterio").name == "rasterio"
    monkeypatch.delitem(sys.modules, "qgis", raising=False)
    assert choose_io().name == "rasterio"
    monkeypatch.setitem(sys.modules, "qgis", object())
    assert choose_io("auto").name == "gdal"
    assert choose_io("rasterio").name == "rasterio"
    with pytest.raises(FloodSarError, match="auto, gdal, rasterio"):
        choose_io("pillow")


def test_interface_modules_do_not_import_rasterio():
    """Inside QGIS only osgeo.gdal may load: the shared modules must not import rasterio."""
    import subprocess
    code = ("import sys; sys.modules['qgis'] = type(sys)('qgis'); "
            "from floodsar.engine import raster_io, sentinel1, outputs, postprocess, grid, mask_encoding, otsu; "
            f"s = sentinel1.open_sentinel1([{str(Path(raster_io.__file__).parents[1] / 'resources/sample/Spain_7370579_S1Hand.tif')!r}]); "
            "s.read_db(0, 0, 8, 8); print(s.grid.pixel_size_m); "
            "assert 'rasterio' not in sys.modules, 'rasterio was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_overview_factors():
    assert overview_factors(RasterGrid(300, 200, "x", UTM_TRANSFORM)) == []
    assert overview_factors(RasterGrid(512, 512, "x", UTM_TRANSFORM)) == [2]
    assert overview_factors(RasterGrid(25000, 17000, "x", UTM_TRANSFORM)) == [2, 4, 8, 16, 32, 64]


def test_boundless_window_read_matches_the_file(io, real_data):
    from osgeo import gdal
    reference = gdal.Open(str(real_data / SPAIN)).ReadAsArray()
    with io.open_raster(real_data / SPAIN) as raster:
        assert (raster.count, raster.descriptions) == (2, ("VV", "VH"))
        assert raster.grid.width == raster.grid.height == 512
        window = raster.read_window([2, 1], -10, 500, 40, 30)
    assert window.shape == (2, 40, 30) and window.dtype == np.float32
    assert np.isnan(window[:, :10]).all() and np.isnan(window[:, :, 12:]).all()
    np.testing.assert_array_equal(window[:, 10:, :12], reference[[1, 0], :30, 500:])


def test_gdal_io_leaves_the_callers_gdal_settings_as_they_were(real_data, tmp_path):
    """Inputs are opened, outputs created and overviews built with every core, set for the moment only: QGIS's
    own setting (here one thread) is back afterwards."""
    from osgeo import gdal
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", "1")
    try:
        with GdalIO().open_raster(real_data / SPAIN) as raster:
            assert raster.read_window([1], 0, 0, 512, 512).shape == (1, 512, 512)
        output = GdalIO().create_geotiff(tmp_path / "out.tif", RasterGrid(600, 600, wkt(32633), UTM_TRANSFORM),
                                         "uint8", None, None, ["water"])
        output.write(0, 0, np.zeros((600, 600), dtype=np.uint8))
        output.close()
        GdalIO().add_overviews(tmp_path / "out.tif", [2], "nearest")
        assert gdal.GetThreadLocalConfigOption("GDAL_NUM_THREADS", None) == "1"
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", None)


def test_backends_agree_on_grid_and_values(large_real_data):
    vv = large_real_data / "stac_overflow/labelled/awc00_vv.tif"
    with RasterioIO().open_raster(vv) as a, GdalIO().open_raster(vv) as b:
        assert a.grid.transform == b.grid.transform and (a.grid.width, a.grid.height) == (b.grid.width, b.grid.height)
        assert a.grid.pixel_size_m == pytest.approx(b.grid.pixel_size_m, rel=1e-9)
        assert GdalIO().same_crs(a.grid.crs_wkt, b.grid.crs_wkt)
        assert RasterioIO().same_crs(a.grid.crs_wkt, b.grid.crs_wkt)
        assert a.nodata == b.nodata == (0.0,)
        np.testing.assert_array_equal(a.read_window([1], 100, 100, 300, 500), b.read_window([1], 100, 100, 300, 500))


def test_bad_inputs_give_one_clear_error(io, tmp_path, gdal_exception_mode):
    with pytest.raises(FloodSarError, match="file not found"):
        io.open_raster(tmp_path / "missing.tif")
    text = tmp_path / "notes.tif"
    text.write_text("not a raster at all\n")
    with pytest.raises(FloodSarError, match="not a raster GDAL can read"):
        io.open_raster(text)
    empty = tmp_path / "empty.vrt"
    empty.write_text('<VRTDataset rasterXSize="8" rasterYSize="8"></VRTDataset>')
    with pytest.raises(FloodSarError, match="empty.vrt: not a raster GDAL can read"):
        io.open_raster(empty)
    no_crs = write_geotiff(tmp_path / "nocrs.tif", np.ones((2, 8, 8), np.float32), epsg=None)
    with pytest.raises(FloodSarError, match="no coordinate reference system.*gdal_edit"):
        io.open_raster(no_crs)


def test_gcp_only_raster_asks_for_terrain_correction(io, tmp_path):
    from osgeo import gdal, osr
    path = write_geotiff(tmp_path / "gcps.tif", np.ones((2, 8, 8), np.float32), epsg=None, transform=None)
    ds = gdal.Open(str(path), gdal.GA_Update)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetGCPs([gdal.GCP(10.0, 50.0, 0, 0, 0), gdal.GCP(10.1, 50.0, 0, 8, 0), gdal.GCP(10.0, 49.9, 0, 0, 8)],
               srs.ExportToWkt())
    ds = None
    with pytest.raises(FloodSarError, match="ground control points.*gdalwarp"):
        io.open_raster(path)


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.gpkg"
    target.write_text("previous result")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as tmp:
            tmp.write_text("half written")
            raise KeyboardInterrupt
    assert target.read_text() == "previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]
    with atomic_output(target) as tmp:
        tmp.write_text("new result")
    assert target.read_text() == "new result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "ok.tif") == tmp_path / "ok.tif"
    with pytest.raises(FloodSarError, match="does not exist"):
        check_writable(tmp_path / "nowhere" / "out.tif")
    with pytest.raises(FloodSarError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(FloodSarError, match="cannot write to the folder"):
        check_writable(unwritable_folder(tmp_path) / "out.tif")
    assert list(tmp_path.iterdir()) == []
