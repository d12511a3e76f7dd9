"""Flood class maps: pre-flood change detection, reference water, terrain and mask exclusion, report.

Real rasters throughout: the STAC Overflow chip ayt12 (VV, VH, JRC water extent and NASADEM on its
grid), the spatialist two-date VV stack, generated pre/post pairs, and layers reprojected with GDAL.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.grid import METRES_PER_DEGREE
from floodsar.engine.io_choice import choose_io
from floodsar.engine.errors import FloodSarError
from floodsar.engine.flood import FloodOptions
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.engine.tiling import Window
from floodsar.engine.terrain import slope_degrees
from floodsar.training.synthetic.pairs import make_pair, write_pair

from helpers.rasters import read_band, write_geotiff

DRY, FLOOD, REFERENCE, EXCLUDED, NODATA = 0, 1, 2, 3, 255
CONSOLE_SCRIPT = Path(sys.executable).with_name("floodsar")


@pytest.fixture(scope="module")
def ayt12(large_real_data) -> dict[str, Path]:
    folder = large_real_data / "stac_overflow" / "unlabelled"
    return {"vv": folder / "test_features" / "ayt12_vv.tif", "vh": folder / "test_features" / "ayt12_vh.tif",
            "jrc": folder / "jrc_extent" / "ayt12.tif", "seasonality": folder / "jrc_seasonality" / "ayt12.tif",
            "dem": folder / "nasadem" / "ayt12.tif"}


def warp(src: Path, dst: Path, epsg: int, resampling: str = "near") -> Path:
    gdal.Warp(str(dst), str(src), dstSRS=f"EPSG:{epsg}", resampleAlg=resampling)
    return dst


def run(inputs, output: Path, **flood) -> tuple:
    """predict with flood options; (result, class map array)."""
    options = {k: v for k, v in flood.items() if k in FloodOptions.__dataclass_fields__}
    rest = {k: v for k, v in flood.items() if k not in options}
    result = predict(PredictionRequest([str(p) for p in inputs], output, flood=FloodOptions(**options), **rest))
    return result, read_band(output)


def test_the_same_real_image_as_pre_and_post_maps_no_flood(ayt12, tmp_path):
    post = [ayt12["vv"], ayt12["vh"]]
    result, classes = run(post, tmp_path / "same.tif", pre=post, report=tmp_path / "r.json")
    valid = classes != NODATA
    assert np.mean(classes[valid] == FLOOD) < 0.005
    assert np.mean(classes[valid] == REFERENCE) > 0.05  # the chip's river and lakes, water on both dates
    assert set(np.unique(classes)) <= {DRY, FLOOD, REFERENCE, NODATA}
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["classes"]["flood"]["share_of_valid"] < 0.005
    assert report["pre_missing"]["share_of_valid"] == 0
    assert result.class_areas_km2["reference water"] == pytest.approx(
        report["classes"]["reference water"]["area_km2"])


def test_same_image_with_otsu_gives_no_flood_even_when_the_pre_image_is_in_another_crs(ayt12, tmp_path):
    post = [ayt12["vv"], ayt12["vh"]]
    pre = [warp(ayt12[b], tmp_path / f"pre_{b}.tif", 4326, "bilinear") for b in ("vv", "vh")]
    _, same = run(post, tmp_path / "same.tif", pre=post, method="otsu")
    assert np.count_nonzero(same == FLOOD) == 0
    _, warped = run(post, tmp_path / "warped.tif", pre=pre, method="otsu")
    valid = warped != NODATA
    assert np.mean(warped[valid] == FLOOD) < 0.02  # twice-resampled speckle only
    assert np.mean(warped[valid] == REFERENCE) > 0.05


@pytest.mark.parametrize("io", ["rasterio", "gdal"])
def test_a_reference_raster_in_another_crs_turns_the_water_inside_it_into_reference_water(ayt12, tmp_path, io):
    post = [ayt12["vv"], ayt12["vh"]]
    predict(PredictionRequest([str(p) for p in post], tmp_path / "water.tif", method="otsu", io=choose_io(io)))
    water = read_band(tmp_path / "water.tif") == 1
    jrc = read_band(ayt12["jrc"]) == 1
    reference = warp(ayt12["jrc"], tmp_path / "jrc_3857.tif", 3857)
    result, classes = run(post, tmp_path / "classes.tif", reference_water=reference, method="otsu", io=choose_io(io))
    inside = jrc & water
    assert inside.sum() > 1000
    assert np.mean(classes[inside] == REFERENCE) > 0.95  # nearest-neighbour reprojection moves edges only
    assert np.mean(classes[water & ~jrc] == FLOOD) > 0.95
    assert np.array_equal(classes == FLOOD, water & (classes != REFERENCE))
    assert not result.warnings or "no data" not in " ".join(result.warnings)


def square_polygon_gpkg(path: Path, grid_file: Path, epsg: int, rows: slice, cols: slice) -> Path:
    """A GeoPackage in EPSG ``epsg`` with one polygon over the pixels rows x cols of ``grid_file``."""
    ds = gdal.Open(str(grid_file))
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    source = osr.SpatialReference(wkt=ds.GetProjection())
    target = osr.SpatialReference()
    target.ImportFromEPSG(epsg)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for r, c in ((rows.start, cols.start), (rows.start, cols.stop), (rows.stop, cols.stop),
                 (rows.stop, cols.start), (rows.start, cols.start)):
        ring.AddPoint_2D(x0 + c * dx, y0 + r * dy)
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    polygon.Segmentize(abs(dx))
    polygon.Transform(osr.CoordinateTransformation(source, target))
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = out.CreateLayer("water", target, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(polygon)
    layer.CreateFeature(feature)
    out = None
    return path


@pytest.mark.parametrize("io", ["rasterio", "gdal"])
def test_reference_polygons_in_another_crs_and_an_exclusion_raster(ayt12, tmp_path, io):
    post = [ayt12["vv"], ayt12["vh"]]
    polygons = square_polygon_gpkg(tmp_path / "lake.gpkg", ayt12["vv"], 4326, slice(100, 300), slice(50, 250))
    exclude = np.zeros((512, 512), np.uint8)
    exclude[400:, 400:] = 1
    mask = write_geotiff(tmp_path / "exclude.tif", exclude, epsg=32631,
                         transform=gdal.Open(str(ayt12["vv"])).GetGeoTransform())
    result, classes = run(post, tmp_path / "c.tif", reference_water=polygons, exclude=[mask], method="otsu",
                          io=choose_io(io), vector=tmp_path / "flood.gpkg")
    inner = classes[105:295, 55:245]
    assert np.all(inner == REFERENCE)  # polygons mark water whatever the image shows
    assert not np.any(classes[:90] == REFERENCE)
    assert np.all(classes[405:, 405:] == EXCLUDED)
    assert any("no data on" in w and "reference water layer" in w for w in result.warnings)  # covers a part only
    source = ogr.Open(str(tmp_path / "flood.gpkg"))
    layer = source.GetLayer("flood")
    found = {f.GetField("class") for f in layer}
    assert found == {FLOOD, REFERENCE} and result.polygons == layer.GetFeatureCount()


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the floodsar console script is not installed")
def test_a_vector_layer_adds_no_library_warning_to_the_command_line(repo_root, tmp_path):
    """Reading a vector layer imports pyogrio, which imports pyproj where installed (Debian's, beside QGIS), which
    warns in a virtualenv that its data is missing: the command line shows FloodSAR's own lines only."""
    sample = repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif"
    lake = square_polygon_gpkg(tmp_path / "lake.gpkg", sample, 3857, slice(100, 300), slice(100, 300))
    done = subprocess.run([str(CONSOLE_SCRIPT), "predict", str(sample), "-o",
                           str(tmp_path / "c.tif"), "--method", "otsu", "--reference-water", str(lake),
                           "--vector", str(tmp_path / "c.gpkg")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"floodsar: warning: {lake}: the reference water layer has no data on")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_pre_image_that_does_not_overlap_is_a_clear_error(large_real_data, tmp_path):
    folder = large_real_data / "other" / "spatialist"  # two real VV scenes 30 km apart
    first, second = sorted(folder.glob("*.tif"))
    with pytest.raises(FloodSarError, match=rf"{first.name}: the pre-flood image does not overlap the post-flood"):
        run([second], tmp_path / "out.tif", pre=[first], method="otsu")
    assert list(tmp_path.iterdir()) == []  # nothing written, no scratch file left


def test_nodata_in_the_pre_image_is_decided_from_the_post_image_and_counted(ayt12, tmp_path):
    post = [ayt12["vv"], ayt12["vh"]]
    transform = gdal.Open(str(ayt12["vv"])).GetGeoTransform()
    stack = np.stack([gdal.Open(str(ayt12[b])).ReadAsArray() for b in ("vv", "vh")]).astype(np.float32)
    stack[:, :128] = np.nan
    pre = write_geotiff(tmp_path / "pre.tif", stack, epsg=32631, transform=transform, descriptions=("VV", "VH"))
    result, classes = run(post, tmp_path / "c.tif", pre=[pre], method="otsu", report=tmp_path / "r.json")
    _, same = run(post, tmp_path / "same.tif", pre=post, method="otsu")
    top, rest = classes[:128], classes[128:]
    assert np.mean(rest == same[128:]) > 0.99  # the rest is decided with the pre image as before
    assert set(np.unique(top)) <= {DRY, FLOOD} and np.any(top == FLOOD)  # post water there is flood
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pre_missing"]["share_of_valid"] == pytest.approx(0.25, abs=0.01)
    assert any("pre-flood image has no data on 25" in w for w in result.warnings)


def test_hand_and_slope_exclude_in_metres_on_a_geographic_grid(ayt12, tmp_path):
    """A DEM ramp of 10 degrees in the east half (and flat west) on an EPSG:4326 grid; HAND > 15 m in the north."""
    deg = 8.9831528412e-05  # about 10 m
    transform = (5.7, deg, 0.0, 8.75, 0.0, -deg)
    lat_m = METRES_PER_DEGREE
    x_m = deg * lat_m * np.cos(np.radians(8.75 - 64 * deg))
    cols = np.arange(128)
    dem = np.where(cols < 64, 0.0, (cols - 64) * x_m * np.tan(np.radians(10.0)))[None, :].repeat(128, 0)
    hand = np.zeros((128, 128), np.float32)
    hand[:32] = 20.0
    grid = GdalIO().open_raster(write_geotiff(tmp_path / "g.tif", hand, epsg=4326, transform=transform)).grid
    slope = slope_degrees(np.pad(dem, 1, mode="edge"), grid, Window(0, 0, 128, 128))
    assert slope[64:, 70:120] == pytest.approx(10.0, abs=0.1)
    assert np.all(slope[:, :60] == 0)
    image = np.full((2, 128, 128), -12.0, np.float32)
    image[1] -= 8
    image[:, 100:, :] = [[[-22.0]], [[-29.0]]]  # water in the south
    post = write_geotiff(tmp_path / "post.tif", image, epsg=4326, transform=transform, descriptions=("VV", "VH"))
    dem_path = write_geotiff(tmp_path / "dem.tif", dem.astype(np.float32), epsg=4326, transform=transform)
    hand_path = write_geotiff(tmp_path / "hand.tif", hand, epsg=4326, transform=transform)
    _, classes = run([post], tmp_path / "c.tif", dem=dem_path, hand=hand_path, method="otsu")
    assert np.all(classes[:32] == EXCLUDED)
    assert np.all(classes[32:127, 66:127] == EXCLUDED)  # 10 degrees > 5 (the DEM's last row/column lack a neighbour)
    assert np.all(classes[32:100, :62] == DRY) and np.all(classes[100:, :62] == FLOOD)
    _, lenient = run([post], tmp_path / "l.tif", dem=dem_path, slope_max_deg=12.0, method="otsu")
    assert not np.any(lenient == EXCLUDED)


def test_generated_pre_post_pair_finds_the_flood_and_not_the_permanent_water(tmp_path):
    pair = make_pair(np.random.default_rng(8), 384)
    assert pair.flood.mean() > 0.04 and pair.permanent.any()
    pre, post, permanent = write_pair(tmp_path, pair)
    result, classes = run([post], tmp_path / "c.tif", pre=[pre], method="otsu", report=tmp_path / "r.json")
    _, water_only = run([post], tmp_path / "w.tif", method="otsu", exclude=[])  # no options: a water mask
    assert set(np.unique(water_only)) <= {0, 1, NODATA}
    found = classes == FLOOD
    iou = (found & pair.flood).sum() / (found | pair.flood).sum()
    water_iou = ((water_only == 1) & pair.flood).sum() / ((water_only == 1) | pair.flood).sum()
    assert iou > 0.8 and iou > water_iou + 0.2  # post-only water also calls the river and lakes flood
    assert np.mean(classes[pair.permanent] == REFERENCE) > 0.8
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["acquired"] for f in report["inputs"]["pre_flood"]] == ["2020-08-01"]
    assert report["inputs"]["post_flood"][0]["acquired"] == "2020-09-15"
    assert report["method"] == "otsu" and "Otsu threshold" in report["model"]


def test_otsu_maps_a_real_single_polarisation_two_date_stack(chips, large_real_data, tmp_path):
    pre = chips["vv_only"]  # 2015, the same grid as the spatialist 2017-03-09 scene
    post = large_real_data / "other" / "spatialist" / "S1A__IW___D_20170309T054356_VV_grd_mli_geo_norm_db.tif"
    result, classes = run([post], tmp_path / "c.tif", pre=[pre], method="otsu", report=tmp_path / "r.json")
    assert "VV" in result.backend and set(np.unique(classes)) <= {DRY, FLOOD, REFERENCE, NODATA}
    assert np.any(classes == REFERENCE) and np.any(classes == FLOOD)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["inputs"]["post_flood"][0]["acquired"] == "2017-03-09T05:43:56"
    assert report["inputs"]["pre_flood"][0]["acquired"] == "2015-03-09T17:30:17"
    with pytest.raises(FloodSarError, match="VV-only.*method otsu"):
        predict(PredictionRequest([str(post)], tmp_path / "m.tif"))


def test_reference_kind_rules(ayt12, tmp_path):
    post = [ayt12["vv"], ayt12["vh"]]
    _, by_name = run(post, tmp_path / "s.tif", reference_water=ayt12["seasonality"], method="otsu",
                     report=tmp_path / "r.json")
    rule = json.loads((tmp_path / "r.json").read_text())["thresholds"]["reference_water"]
    assert rule.startswith("seasonality: water where value >= 10")
    assert not np.any(by_name == REFERENCE)  # this chip's seasonality peaks at 5 months
    _, lowered = run(post, tmp_path / "l.tif", reference_water=ayt12["seasonality"], reference_threshold=1,
                     method="otsu")
    seasonal = read_band(ayt12["seasonality"]) >= 1
    assert np.all(lowered[seasonal] == REFERENCE)
    occurrence = write_geotiff(tmp_path / "values.tif", (read_band(ayt12["dem"]) % 90).astype(np.uint8),
                               epsg=32631, transform=gdal.Open(str(ayt12["vv"])).GetGeoTransform())
    with pytest.raises(FloodSarError, match="values.tif: cannot tell.*reference kind occurrence"):
        run(post, tmp_path / "x.tif", reference_water=occurrence, method="otsu")


def write_scene(folder: Path, height: int, width: int) -> dict[str, Path]:
    """A generated post scene (UTM), its pre image (EPSG:4326), reference water (EPSG:3857) and DEM, by blocks."""
    import rasterio
    from rasterio.windows import Window as RioWindow

    rng = np.random.default_rng(0)
    post = folder / f"post_{height}.tif"
    profile = dict(driver="GTiff", width=width, height=height, count=2, dtype="float32", crs="EPSG:32633",
                   transform=rasterio.Affine(10, 0, 500000, 0, -10, 4000000), tiled=True, compress="deflate")
    with rasterio.open(post, "w", **profile) as out:
        out.descriptions = ("VV", "VH")
        for row in range(0, height, 512):
            rows = min(512, height - row)
            block = rng.normal(-10, 2, (2, rows, width)).astype(np.float32)
            block[:, :, : width // 4] -= 12  # water in the west
            out.write(block, window=RioWindow(0, row, width, rows))
    paths = {"post": post, "pre": warp(post, folder / f"pre_{height}.tif", 4326, "bilinear")}
    gdal.Translate(str(folder / f"ref_{height}.tif"), str(post), bandList=[1], outputType=gdal.GDT_Byte,
                   scaleParams=[[-40, 0, 1, 0]])
    paths["reference"] = warp(folder / f"ref_{height}.tif", folder / f"ref3857_{height}.tif", 3857)
    paths["dem"] = folder / f"ref_{height}.tif"
    return paths


@pytest.mark.slow
def test_flood_memory_does_not_grow_with_the_scene(tmp_path, monkeypatch):
    """Peak RSS of the command line with every flood layer, on a scene 1,024 and 8,192 rows tall (4,096 wide).

    GDAL's block cache is set to 32 MB so that it cannot hide (or pass for) growth with the raster.
    """
    from floodsar.engine.benchmark.measure import peak_rss

    monkeypatch.setenv("GDAL_CACHEMAX", "32")

    peaks = {}
    for height in (1024, 8192):
        paths = write_scene(tmp_path, height, 4096)
        command = [str(CONSOLE_SCRIPT), "predict", str(paths["post"]), "--method", "otsu", "--pre", str(paths["pre"]),
                   "--reference-water", str(paths["reference"]), "--dem", str(paths["dem"]),
                   "-o", str(tmp_path / f"classes_{height}.tif")]
        peaks[height], _ = peak_rss(command, tmp_path / f"log_{height}.txt")
        assert (tmp_path / f"classes_{height}.tif").is_file(), (tmp_path / f"log_{height}.txt").read_text()
    band_bytes = 8192 * 4096 * 4  # one float32 band of the tall scene: 134 MB
    assert peaks[8192] - peaks[1024] < band_bytes / 4


def test_single_polarisation_input_is_read_as_its_one_band(chips, tmp_path):
    from floodsar.engine.sentinel1 import open_sentinel1

    with open_sentinel1([chips["vv_only"]], single_polarisation=True) as source:
        db, valid = source.read_db(0, 0, 64, 64)
        assert source.polarisations == ("VV",) and db.shape == (1, 64, 64) and valid.any()
        assert "VV: S1A__IW___A_20150309T173017_VV" in source.describe() and "VH:" not in source.describe()
    unnamed = write_geotiff(tmp_path / "band.tif", np.full((32, 32), -20.0, np.float32))
    with pytest.raises(FloodSarError, match="band.tif: is a 1-band raster.*VV band 1 or VH band 1"):
        open_sentinel1([unnamed], single_polarisation=True)
    with open_sentinel1([unnamed], single_polarisation=True, vh_band=1) as source:
        assert source.polarisations == ("VH",) and "(as given)" in source.band_names[0]
