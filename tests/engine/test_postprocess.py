"""Post-processing: minimum mapping unit (sieve) and water polygons with true areas, on both backends."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from floodsar.engine.errors import FloodSarError
from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.grid import RasterGrid
from floodsar.engine.outputs import open_output
from floodsar.engine.postprocess import apply_minimum_mapping_unit, minimum_pixels, write_water_polygons
from floodsar.engine.io_choice import choose_io
from floodsar.engine.raster_io import RasterIO
from floodsar.engine.rasterio_io import RasterioIO
from helpers.rasters import UTM_TRANSFORM, read_band

IO_NAMES = ("rasterio", "gdal")
SPAIN = "sen1floods11/S1Hand/Spain_7370579_S1Hand.tif"


def utm_grid(size: int = 100) -> RasterGrid:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return GdalIO().grid(size, size, srs.ExportToWkt(), UTM_TRANSFORM)


def write_mask(path: Path, grid: RasterGrid, mask: np.ndarray, io: RasterIO = GdalIO()) -> Path:
    with open_output(path, grid, "mask", io=io) as writer:
        writer.write(0, 0, mask)
    return path


def read_polygons(path: Path) -> tuple[list[float], list[int], osr.SpatialReference]:
    """(areas, vertex counts of exteriors, layer CRS) of the water layer, sorted by area."""
    ds = ogr.Open(str(path))
    layer = ds.GetLayerByName("water")
    rows = sorted((f.GetField("area_m2"), f.GetGeometryRef().GetGeometryRef(0).GetPointCount()) for f in layer)
    srs = layer.GetSpatialRef().Clone()
    return [a for a, _ in rows], [n for _, n in rows], srs


@pytest.fixture()
def synthetic_mask() -> np.ndarray:
    """A 100 x 100 mask: a lake with a 3-pixel dry hole, a 3-pixel water speck,
    two 2 x 2 ponds touching at a corner, and a nodata strip."""
    mask = np.zeros((100, 100), np.uint8)
    mask[10:60, 10:60] = 1
    mask[30, 30] = mask[30, 31] = mask[31, 30] = 0
    mask[80, 80] = mask[80, 81] = mask[81, 80] = 1
    mask[70:72, 10:12] = 1
    mask[72:74, 12:14] = 1
    mask[:, 90:] = 255
    return mask


def test_minimum_pixels():
    assert minimum_pixels(utm_grid(), 500) == 5
    assert minimum_pixels(utm_grid(), 501) == 6
    assert minimum_pixels(utm_grid(), 0) == 1


def test_minimum_mapping_unit(io, tmp_path, synthetic_mask, gdal_exception_mode):
    path = write_mask(tmp_path / "water.tif", utm_grid(), synthetic_mask)
    apply_minimum_mapping_unit(path, 500, io=io)  # 5 pixels of 10 m
    result = read_band(path)
    expected = synthetic_mask.copy()
    expected[30, 30] = expected[30, 31] = expected[31, 30] = 1   # hole filled
    expected[80, 80] = expected[80, 81] = expected[81, 80] = 0   # speck removed
    expected[70:74, 10:14] = 0  # ponds touching only at a corner are separate 4-pixel patches
    np.testing.assert_array_equal(result, expected)              # nodata kept
    ds = gdal.Open(str(path))
    assert ds.GetRasterBand(1).GetNoDataValue() == 255 and ds.GetRasterBand(1).GetColorTable() is not None
    assert [p.name for p in tmp_path.iterdir()] == ["water.tif"]


def test_tiny_minimum_mapping_unit_changes_nothing(tmp_path, synthetic_mask):
    path = write_mask(tmp_path / "water.tif", utm_grid(), synthetic_mask)
    before = path.stat().st_mtime_ns
    apply_minimum_mapping_unit(path, 100, GdalIO())  # one pixel
    assert path.stat().st_mtime_ns == before


def test_water_polygons_with_true_areas(io, tmp_path, synthetic_mask, gdal_exception_mode):
    mask_path = write_mask(tmp_path / "water.tif", utm_grid(), synthetic_mask)
    gpkg = tmp_path / "water.gpkg"
    assert write_water_polygons(mask_path, gpkg, io=io) == 4  # polygons are 4-connected
    areas, vertices, srs = read_polygons(gpkg)
    # UTM shrinks areas by the scale factor 0.9996 on the central meridian: true area is ~0.08% larger.
    np.testing.assert_allclose(areas, np.array([3, 4, 4, 2497]) * 100 / 0.9996 ** 2, rtol=2e-4)
    assert vertices[0] == 7  # an L-shaped triomino: 6 corners, closed ring
    with io.open_raster(mask_path) as mask:
        assert srs.IsSame(osr.SpatialReference(mask.grid.crs_wkt))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["water.gpkg", "water.tif"]


def test_no_water_gives_an_empty_layer(io, tmp_path):
    mask_path = write_mask(tmp_path / "dry.tif", utm_grid(), np.zeros((100, 100), np.uint8))
    gpkg = tmp_path / "dry.gpkg"
    assert write_water_polygons(mask_path, gpkg, io=io) == 0
    ds = ogr.Open(str(gpkg))
    layer = ds.GetLayerByName("water")
    assert layer.GetFeatureCount() == 0 and layer.GetLayerDefn().GetFieldIndex("area_m2") >= 0


def test_missing_pyogrio_is_reported_before_any_work(tmp_path, monkeypatch, synthetic_mask):
    mask_path = write_mask(tmp_path / "water.tif", utm_grid(), synthetic_mask)
    monkeypatch.setitem(sys.modules, "pyogrio", None)  # as if not installed
    with pytest.raises(FloodSarError, match="needs the pyogrio package"):
        write_water_polygons(mask_path, tmp_path / "water.gpkg", io=RasterioIO())
    assert [p.name for p in tmp_path.iterdir()] == ["water.tif"]
    assert write_water_polygons(mask_path, tmp_path / "water.gpkg", io=GdalIO()) == 4  # GDAL needs no pyogrio


def test_missing_mask_writes_nothing(tmp_path):
    with pytest.raises(FloodSarError, match="file not found"):
        write_water_polygons(tmp_path / "missing.tif", tmp_path / "water.gpkg", GdalIO())
    assert list(tmp_path.iterdir()) == []


def test_both_backends_agree_on_a_real_chip(tmp_path, real_data):
    """Real Sen1Floods11 chip (EPSG:4326): same sieved mask bytes, same polygons and areas."""
    source = real_data / SPAIN
    with GdalIO().open_raster(source) as raster:
        grid = raster.grid
        vh = raster.read_window([2], 0, 0, grid.height, grid.width)[0]
    mask = np.where(np.isnan(vh), 255, vh < -20).astype(np.uint8)
    results = {}
    for name in IO_NAMES:
        io = choose_io(name)
        path = write_mask(tmp_path / f"{name}.tif", grid, mask, io)
        apply_minimum_mapping_unit(path, 2000, io=io)
        count = write_water_polygons(path, tmp_path / f"{name}.gpkg", io=io)
        results[name] = (gdal.Open(str(path)).ReadRaster(), count, read_polygons(tmp_path / f"{name}.gpkg"))
    (mask_a, count_a, (areas_a, vertices_a, _)), (mask_b, count_b, (areas_b, vertices_b, _)) = results.values()
    assert mask_a == mask_b
    sieved = np.frombuffer(mask_a, np.uint8)
    assert 0 < (sieved == 1).sum() < (mask == 1).sum()  # the unit removed some specks
    assert count_a == count_b > 10
    np.testing.assert_allclose(areas_a, areas_b, rtol=1e-6)
    assert vertices_a == vertices_b
    # Geographic CRS: the total must match the water pixel count times the ground pixel area.
    assert sum(areas_a) == pytest.approx((sieved == 1).sum() * grid.pixel_size_m ** 2, rel=5e-3)
    assert min(areas_a) >= 2000 * 0.99  # no polygon below the minimum mapping unit


def test_polygons_written_in_batches_match_one_batch(tmp_path, real_data):
    with RasterioIO().open_raster(real_data / SPAIN) as raster:
        grid = raster.grid
        vh = raster.read_window([2], 0, 0, grid.height, grid.width)[0]
    mask_path = write_mask(tmp_path / "m.tif", grid, np.where(np.isnan(vh), 255, vh < -20).astype(np.uint8))
    whole = RasterioIO().polygonize_water(mask_path, tmp_path / "whole.gpkg")
    assert RasterioIO(polygon_batch=500).polygonize_water(mask_path, tmp_path / "batches.gpkg") == whole > 1000
    assert read_polygons(tmp_path / "batches.gpkg")[:2] == read_polygons(tmp_path / "whole.gpkg")[:2]


def test_both_implementations_write_the_same_polygons(tmp_path):
    """One behaviour: same features, fids, rings (holes clockwise), areas, layer, field and CRS."""
    mask = np.zeros((50, 60), np.uint8)
    mask[5:25, 5:25] = 1
    mask[10:15, 10:15] = 0  # a dry hole
    mask[17:19, 17:19] = 255  # a nodata hole
    mask[30, 30] = mask[31, 31] = 1  # touching at a corner only: two polygons
    mask[0:3, 55:60] = 1  # on the raster's edge
    mask[40:50, 0:10] = 255
    mask[45, 5] = 1  # water inside nodata
    grid = GdalIO().grid(60, 50, GdalIO().crs_wkt("EPSG:32633"), UTM_TRANSFORM)
    path = write_mask(tmp_path / "mask.tif", grid, mask)
    written, areas = {}, {}
    for name in IO_NAMES:
        count = write_water_polygons(path, tmp_path / f"{name}.gpkg", choose_io(name))
        layer_source = ogr.Open(str(tmp_path / f"{name}.gpkg"))
        layer = layer_source.GetLayer(0)
        definition = layer.GetLayerDefn()
        written[name] = (count, layer.GetName(), layer.GetGeomType(), layer.GetSpatialRef().GetAuthorityCode(None),
                         [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())],
                         [(f.GetFID(), f.GetGeometryRef().ExportToIsoWkt()) for f in layer])
        areas[name] = [f.GetField("area_m2") for f in layer]
    assert written["gdal"] == written["rasterio"]
    np.testing.assert_allclose(areas["gdal"], areas["rasterio"], rtol=1e-7)  # each library's own PROJ
    count, name, geometry_type, epsg, fields, features = written["gdal"]
    assert (count, name, geometry_type, epsg, fields) == (5, "water", ogr.wkbPolygon, "32633", ["area_m2"])
    holed = ogr.CreateGeometryFromWkt(next(wkt for _, wkt in features if "),(" in wkt))
    assert holed.GetGeometryCount() == 3 and holed.IsValid()
