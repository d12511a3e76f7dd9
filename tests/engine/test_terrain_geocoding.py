"""Terrain-corrected geocoding of GRD products with a DEM (sarsen + xarray-sentinel through the orbit).

The fixture is tests/fixtures/s1_grd_corner: the real product's first geolocation grid cell at its real
geometry (orbit state vectors, timing, range polynomials, 4 GCPs), with measurement TIFFs written here.
DEMs are real GeoTIFFs written here; the geoid is PROJ's EGM96 grid when one is installed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from osgeo import gdal

from floodsar.engine.cli import main
from floodsar.engine.errors import FloodSarError
from floodsar.engine.products import resolve, safe
from floodsar.engine.products.container import Container
from floodsar.engine.products.terrain_geocoding import Geoid, geoid_grid

from helpers.products import CORNER_SAFE, CORNER_SHAPE, SAFE_NAME, TINY_SHAPE, tiny_safe, water_and_land
from helpers.rasters import write_geotiff

#: The corner product's UTM zone.
EPSG = 32633


@pytest.fixture
def corner(tmp_path):
    return tiny_safe(tmp_path, *water_and_land(CORNER_SHAPE), source=CORNER_SAFE)


def _undulation(io, grid, xs, ys) -> np.ndarray:
    """EGM96 geoid height at map points (0 where no geoid grid is installed: heights are then used as they are)."""
    path = geoid_grid()
    if path is None:
        return np.zeros(np.shape(xs))
    lon, lat = io.transform_points(grid.crs_wkt, io.epsg_wkt(4326), np.ravel(xs), np.ravel(ys))
    return Geoid(path, io).undulation(lon, lat).reshape(np.shape(xs))


def _flat_dem(path, grid, height: float, epsg: int = EPSG):
    """A DEM covering ``grid`` (in UTM ``epsg``) with one height, at 30 m."""
    x0, _, _, y0, _, _ = grid.transform
    rows, cols = math.ceil(grid.height / 3) + 2, math.ceil(grid.width / 3) + 2
    return write_geotiff(path, np.full((rows, cols), height, np.float32), epsg=epsg,
                         transform=(x0 - 30, 30.0, 0, y0 + 30, 0, -30.0))


def _centres(grid, row0, col0, row1, col1):
    x0, dx, _, y0, _, dy = grid.transform
    rows, cols = np.mgrid[row0:row1, col0:col1] + 0.5
    return x0 + cols * dx, y0 + rows * dy


def test_orbit_geometry_puts_each_gcp_where_the_annotation_says(io, corner):
    """At each GCP's longitude, latitude and (ellipsoidal) height, sarsen's zero-Doppler solution through the
    orbit lands on the GCP's line and pixel: within 0.3 line (the annotation's GCP lines differ from their own
    azimuth times by up to 0.2 line) and 0.2 pixel."""
    product = resolve([corner], io, dem=_flat_dem(corner.parent / "dem.tif", resolve([corner], io).raster.grid, 0))
    gcps = safe.parse(Container(corner), "manifest.safe").gcps
    raster = product.raster
    x, y = io.transform_points(io.epsg_wkt(4326), raster.grid.crs_wkt, gcps.lon, gcps.lat)
    lines, pixels = raster.terrain.geometry.radar_coordinates(x, y, gcps.height, raster.grid.crs_wkt)
    np.testing.assert_allclose(lines, gcps.line + 0.5, atol=0.3)
    np.testing.assert_allclose(pixels, gcps.pixel + 0.5, atol=0.2)
    raster.close()


def test_orbit_solution_matches_every_gcp_of_the_full_size_annotation(large_real_data):
    """The real product's full annotation (210 GCPs over 25,788 x 16,685 px, the Alps, 25-2818 m): at each GCP's
    position and height, sarsen's zero-Doppler time and slant range match the GCP's own azimuthTime and
    lines to 0.05 line; pixels agree with the GCPs' to 1.6 px (median 0.3), the spread coming from
    xarray-sentinel interpolating between the one-per-second range polynomials (see the README)."""
    import xml.etree.ElementTree as ElementTree

    from floodsar.engine.io_choice import choose_io
    from floodsar.engine.products.terrain_geocoding import OrbitGeometry

    annotation = next((large_real_data / "safe" / SAFE_NAME / "annotation").glob("s1b-iw-grd-vv-*.xml"))
    data = annotation.read_bytes()
    points = list(ElementTree.fromstring(data).iter("geolocationGridPoint"))
    lon, lat, height, gcp_pixels = (np.array([float(p.findtext(tag)) for p in points])
                                    for tag in ("longitude", "latitude", "height", "pixel"))
    times = np.array([np.datetime64(p.findtext("azimuthTime"), "ns") for p in points])
    io = choose_io()
    x, y = io.transform_points(io.epsg_wkt(4326), io.epsg_wkt(EPSG - 1), lon, lat)  # UTM 32N holds most of it
    geometry = OrbitGeometry(data, annotation, SAFE_NAME)
    lines, pixels = geometry.radar_coordinates(x, y, height, io.epsg_wkt(EPSG - 1))
    info = ElementTree.fromstring(data).find("imageAnnotation/imageInformation")
    first = np.datetime64(info.findtext("productFirstLineUtcTime"), "ns")
    interval = float(info.findtext("azimuthTimeInterval"))
    own_lines = (times - first) / np.timedelta64(1, "ns") * 1e-9 / interval + 0.5
    assert np.abs(lines - own_lines).max() < 0.05
    assert np.abs(pixels - gcp_pixels - 0.5).max() < 1.6 and np.median(np.abs(pixels - gcp_pixels - 0.5)) < 0.3
    assert len(points) == 210 and np.ptp(height) > 2500


def test_dem_at_the_gcp_heights_agrees_with_the_ellipsoid_geocoding_at_the_gcps(io, corner):
    """A DEM holding each GCP's height (as a geoid height) around it: at the GCPs the terrain-corrected radar
    coordinates of the output pixels agree with the ellipsoid (GCP) geocoding to a fraction of a pixel."""
    ellipsoid = resolve([corner], io).raster
    grid = ellipsoid.grid
    gcps = safe.parse(Container(corner), "manifest.safe").gcps
    x, y = io.transform_points(io.epsg_wkt(4326), grid.crs_wkt, gcps.lon, gcps.lat)
    x0, _, _, y0, _, _ = grid.transform
    rows, cols = np.mgrid[0:grid.height // 3, 0:grid.width // 3] + 0.5  # the DEM at 30 m
    gx, gy = x0 + 30 * cols, y0 - 30 * rows
    nearest = np.argmin([(gx - px) ** 2 + (gy - py) ** 2 for px, py in zip(x, y)], axis=0)  # each GCP's own area
    dem = gcps.height[nearest] - _undulation(io, grid, gx, gy)
    path = write_geotiff(corner.parent / "dem.tif", dem.astype(np.float32), epsg=EPSG,
                         transform=(x0, 30.0, 0.0, y0, 0.0, -30.0))
    terrain = resolve([corner], io, dem=path).raster
    for px, py in zip(x, y):
        col, row = int((px - grid.transform[0]) // 10), int((grid.transform[3] - py) // 10)
        row0, col0 = min(max(row - 4, 0), grid.height - 9), min(max(col - 4, 0), grid.width - 9)
        tps = ellipsoid.radar_coordinates(row0, col0, row0 + 9, col0 + 9)
        orbit = terrain.radar_coordinates(row0, col0, row0 + 9, col0 + 9)
        at = (row - row0, col - col0)
        assert abs(orbit[0][at] - tps[0][at]) < 0.5 and abs(orbit[1][at] - tps[1][at]) < 0.5
    ellipsoid.close()
    terrain.close()


def test_raised_terrain_moves_pixels_towards_near_range_by_dh_over_tan_incidence(io, corner):
    """Physics check: for one map position, ground dh higher is seen dh / tan(incidence) nearer the sensor
    in ground range (foreshortening), and at the same azimuth time."""
    grid = resolve([corner], io).raster.grid
    window = (1000, 700, 1064, 764)
    low, high = (resolve([corner], io, dem=_flat_dem(corner.parent / f"dem{h}.tif", grid, h)).raster
                 for h in (500.0, 1000.0))
    (low_lines, low_pixels), (high_lines, high_pixels) = (r.radar_coordinates(*window) for r in (low, high))
    gcps = safe.parse(Container(corner), "manifest.safe").gcps
    incidence = np.interp(low_pixels, [0, 1290], [gcps.incidence[gcps.pixel == p].mean() for p in (0, 1290)])
    expected = -500.0 / np.tan(np.radians(incidence)) / 10.0  # pixels of 10 m
    np.testing.assert_allclose(high_pixels - low_pixels, expected, rtol=0.03)
    assert np.abs(high_lines - low_lines).max() < 0.2
    low.close()
    high.close()


def test_lattice_interpolation_matches_the_exact_solution_per_pixel(io, corner):
    """Rough terrain (0-2000 m within 64 px): the lattice solution (every STEP pixels, three heights) is within
    0.05 px of sarsen's exact solution at every pixel."""
    grid = resolve([corner], io).raster.grid
    rng = np.random.default_rng(0)
    dem = rng.uniform(0, 2000, (grid.height, grid.width)).astype(np.float32)
    path = write_geotiff(corner.parent / "rough.tif", dem, epsg=EPSG, transform=grid.transform)
    raster = resolve([corner], io, dem=path).raster
    window = (900, 600, 964, 664)
    lines, pixels = raster.radar_coordinates(*window)
    xs, ys = _centres(grid, *window)
    heights = dem[900:964, 600:664] + _undulation(io, grid, xs, ys)
    exact = raster.terrain.geometry.radar_coordinates(xs, ys, heights, grid.crs_wkt)
    assert np.abs(lines - exact[0]).max() < 0.05 and np.abs(pixels - exact[1]).max() < 0.05
    raster.close()


def test_geoid_grid_gives_egm96_heights_in_the_alps(io):
    path = geoid_grid()
    if path is None:
        pytest.skip("PROJ's EGM96 grid (Debian package proj-data) is not installed")
    undulation = Geoid(path, io).undulation(np.array([10.0]), np.array([46.5]))[0]
    assert 45 < undulation < 52  # EGM96 over the central Alps: about 48-49 m


def test_grd_with_dem_maps_end_to_end_through_the_command_line(corner, tmp_path, pointwise_model, capsys):
    """floodsar predict --dem on a GRD: terrain-corrected, georeferenced classes (slope exclusion as before)."""
    grid = resolve([corner], None).raster.grid
    dem = _flat_dem(tmp_path / "dem.tif", grid, 300.0)
    x0, _, _, y0, _, _ = grid.transform
    extent = [x0 + 5000, y0 - 15000, x0 + 12000, y0 - 8000]  # 700 x 700 px inside the footprint
    out = tmp_path / "classes.tif"
    assert main(["predict", str(corner), "--dem", str(dem), "-o", str(out), "--model", str(pointwise_model),
                 "--extent", *map(str, extent), "-q"]) == 0
    ds = gdal.Open(str(out))
    assert ds.GetProjection() and f'"EPSG","{EPSG}"' in ds.GetProjection()
    assert ds.GetGeoTransform() == (extent[0], 10.0, 0.0, extent[3], 0.0, -10.0)
    classes = ds.ReadAsArray()
    assert set(np.unique(classes)) <= {0, 1, 3, 255} and (classes == 1).any() and (classes == 0).any()


def test_info_names_the_terrain_correction(corner, tmp_path, capsys):
    grid = resolve([corner], None).raster.grid
    dem = _flat_dem(tmp_path / "dem.tif", grid, 300.0)
    assert main(["info", str(corner), "--dem", str(dem)]) == 0
    out = capsys.readouterr().out
    assert "terrain-corrected geocoding with the DEM" in " ".join(out.split())
    assert "Ellipsoid geocoding (no DEM)" not in out
    assert main(["info", str(corner)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "geocoding on the ellipsoid" in out and "Ellipsoid geocoding (no DEM)" in out


def test_dem_covering_part_of_the_scene_is_named_with_its_share(corner, tmp_path, capsys):
    grid = resolve([corner], None).raster.grid
    x0, _, _, y0, _, _ = grid.transform
    half = write_geotiff(tmp_path / "west.tif", np.zeros((grid.height, grid.width // 2), np.float32), epsg=EPSG,
                         transform=grid.transform)
    assert main(["info", str(corner), "--dem", str(half)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"{half}: the DEM covers only 50% of the product's extent" in out


@pytest.mark.parametrize("problem", ["elsewhere", "not a raster", "missing"])
def test_bad_dem_is_one_clear_line_naming_the_file(corner, tmp_path, capsys, problem):
    dem = tmp_path / "dem.tif"
    if problem == "elsewhere":
        write_geotiff(dem, np.zeros((10, 10), np.float32), epsg=EPSG)  # 500 km east, 4000 km south
    elif problem == "not a raster":
        dem.write_text("not a raster")
    assert main(["info", str(corner), "--dem", str(dem)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(dem) in err and "Traceback" not in err


def test_product_without_orbit_annotation_is_refused_with_a_dem(tmp_path):
    """The tiny fixture's annotation (shrunk geometry) has no orbit: a clear error, not a traceback."""
    folder = tiny_safe(tmp_path, *(np.ones(TINY_SHAPE),) * 2)
    raster = resolve([folder], None).raster
    dem = _flat_dem(tmp_path / "dem.tif", raster.grid, 0.0, raster.epsg)
    with pytest.raises(FloodSarError, match="lacks the orbit state vectors"):
        resolve([folder], None, dem=dem)
    assert (tmp_path / SAFE_NAME).exists()


@pytest.mark.slow
def test_full_size_grd_with_a_dem_maps_in_bounded_memory(tmp_path, large_real_data, pointwise_model):
    """The shared full-size GRD (25,788 x 16,685 px per polarisation) terrain-corrected with a DEM of hills over
    the whole scene (90 m pixels) and mapped end to end in a fresh process: peak memory stays bounded."""
    import subprocess
    import sys
    import time

    from helpers.products import full_size_safe

    product = full_size_safe(tmp_path, large_real_data / "safe")
    raster = resolve([product], None).raster
    grid = raster.grid
    raster.close()
    rows, cols = grid.height // 9 + 2, grid.width // 9 + 2
    y, x = np.mgrid[0:rows, 0:cols] * 90.0
    hills = (1000 + 1000 * np.sin(x / 3000 * np.pi) * np.cos(y / 3000 * np.pi)).astype(np.float32)
    x0, _, _, y0, _, _ = grid.transform
    dem = write_geotiff(tmp_path / "dem.tif", hills, epsg=raster.epsg,
                        transform=(x0 - 90, 90.0, 0.0, y0 + 90, 0.0, -90.0))
    script = ("import resource, sys; from floodsar.engine.cli import main; code = main(sys.argv[1:]); "
              "print('peak_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024); sys.exit(code)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, "predict", str(product), "--dem", str(dem),
                           "-o", str(tmp_path / "classes.tif"), "--model", str(pointwise_model)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split("peak_mb")[-1])
    print(f"full-size GRD with a DEM mapped in {time.monotonic() - started:.0f} s, peak RSS {peak_mb} MB")
    assert peak_mb < 1200, peak_mb
    classes = gdal.Open(str(tmp_path / "classes.tif"))
    assert classes.RasterXSize > 25000 and classes.RasterYSize > 15000
