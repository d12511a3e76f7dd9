"""Output writers: mask and probability encoding, GeoTIFF layout, and no half-written files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from floodsar.engine.errors import FloodSarError
from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.grid import RasterGrid
from floodsar.engine.outputs import check_stored, open_output
from floodsar.engine.io_choice import choose_io
from floodsar.engine.raster_io import RasterIO
from floodsar.engine.tally import Tally
from helpers.rasters import read_band, unwritable_folder

IO_NAMES = ("rasterio", "gdal")
SPAIN = "sen1floods11/S1Hand/Spain_7370579_S1Hand.tif"


@pytest.fixture(scope="module")
def spain(real_data) -> tuple[RasterGrid, np.ndarray]:
    """The Spain chip's grid and a mask from a simple VH threshold (255 where the chip is NaN)."""
    path = real_data / SPAIN
    with GdalIO().open_raster(path) as raster:
        grid = raster.grid
    vh = gdal.Open(str(path)).ReadAsArray()[1]
    return grid, np.where(np.isnan(vh), 255, vh < -20).astype(np.uint8)


def write_in_strips(path: Path, grid: RasterGrid, kind: str, data: np.ndarray, io: RasterIO) -> None:
    with open_output(path, grid, kind, io=io) as writer:
        for row in range(0, grid.height, 200):
            writer.write(row, 0, data[row:row + 200])


def test_mask_layout_and_encoding(io, tmp_path, spain):
    grid, mask = spain
    out = tmp_path / "water.tif"
    write_in_strips(out, grid, "mask", mask, io)
    assert [p.name for p in tmp_path.iterdir()] == ["water.tif"]
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (512, 512, 1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    assert band.GetBlockSize() == [512, 512]
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert ds.GetMetadata("IMAGE_STRUCTURE")["PREDICTOR"] == "2"
    assert band.GetOverviewCount() == 1 and band.GetOverview(0).XSize == 256
    colours = band.GetColorTable()
    assert colours.GetColorEntry(1)[:3] == (0, 92, 230) and colours.GetColorEntry(0) != colours.GetColorEntry(1)
    assert ds.GetGeoTransform() == grid.transform
    np.testing.assert_array_equal(band.ReadAsArray(), mask)


def test_both_backends_write_the_same_mask(tmp_path, spain):
    grid, mask = spain
    for name in IO_NAMES:
        write_in_strips(tmp_path / f"{name}.tif", grid, "mask", mask, choose_io(name))
    a, b = (gdal.Open(str(tmp_path / f"{name}.tif")) for name in IO_NAMES)
    assert a.ReadRaster() == b.ReadRaster()
    assert a.GetRasterBand(1).GetOverview(0).ReadRaster() == b.GetRasterBand(1).GetOverview(0).ReadRaster()
    from osgeo import osr
    assert osr.SpatialReference(a.GetProjection()).IsSame(osr.SpatialReference(b.GetProjection()))


def test_probability_encoding(io, tmp_path, spain):
    grid, mask = spain
    probability = np.where(mask == 255, np.nan, np.linspace(0, 1, mask.size).reshape(mask.shape)).astype(np.float32)
    out = tmp_path / "p.tif"
    write_in_strips(out, grid, "probability", probability, io)
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Float32 and band.GetNoDataValue() == -1
    assert ds.GetMetadata("IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    stored = band.ReadAsArray()
    np.testing.assert_array_equal(stored[mask == 255], -1)
    np.testing.assert_array_equal(stored[mask != 255], probability[mask != 255])


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_interrupted_write_leaves_nothing(io, interruption, tmp_path, spain):
    grid, mask = spain
    out = tmp_path / "water.tif"
    with pytest.raises(interruption):
        with open_output(out, grid, "mask", io=io) as writer:
            writer.write(0, 0, mask[:100])
            raise interruption("stop")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_output(tmp_path, spain):
    grid, mask = spain
    out = tmp_path / "water.tif"
    write_in_strips(out, grid, "mask", mask, GdalIO())
    with pytest.raises(KeyboardInterrupt):
        with open_output(out, grid, "mask", GdalIO()) as writer:
            writer.write(0, 0, np.zeros((512, 512), np.uint8))
            raise KeyboardInterrupt
    np.testing.assert_array_equal(read_band(out), mask)
    assert [p.name for p in tmp_path.iterdir()] == ["water.tif"]


def test_unwritable_output_is_refused_before_any_work(io, tmp_path, spain):
    grid, _ = spain
    with pytest.raises(FloodSarError, match="does not exist; create it first"):
        open_output(tmp_path / "missing" / "water.tif", grid, "mask", io=io)
    with pytest.raises(FloodSarError, match="cannot write to the folder"):
        open_output(unwritable_folder(tmp_path) / "water.tif", grid, "mask", io=io)
    assert not os.listdir(tmp_path)


def small_grid(io: RasterIO, size: int) -> RasterGrid:
    return io.grid(size, size, io.crs_wkt("EPSG:32633"), (500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0))


def test_every_block_of_a_written_output_is_found_on_disk(io, tmp_path, spain):
    grid, mask = spain
    out = tmp_path / "water.tif"
    write_in_strips(out, grid, "mask", mask, io)
    blocks = io.stored_blocks(out)
    assert len(blocks) == 2  # the 512 px block and the block of its one overview
    assert all(offset and size and offset + size <= out.stat().st_size for offset, size in blocks)
    check_stored(out, io)


def test_a_block_cut_off_the_end_of_the_file_is_a_lost_write(io, tmp_path):
    """What a full disk leaves: the directory records a block whose bytes end past the end of the file."""
    grid = small_grid(io, 300)  # one block, no overview
    out = tmp_path / "cut.tif"
    writer = io.create_geotiff(out, grid, "uint8", 255, None, ["m"])
    writer.write(0, 0, np.random.default_rng(0).integers(0, 2, (300, 300), dtype=np.uint8))
    writer.close()
    check_stored(out, io)
    [(offset, size)] = io.stored_blocks(out)
    assert offset + size == out.stat().st_size  # the block's bytes end the file
    with open(out, "r+b") as file:
        file.truncate(out.stat().st_size - 10)
    with pytest.raises(OSError, match="1 of 1 blocks did not reach the disk"):
        check_stored(out, io)


def test_a_block_never_stored_is_a_lost_write(io, tmp_path):
    """A block the directory records without bytes (here left out on purpose with SPARSE_OK) is caught."""
    grid = small_grid(io, 1024)
    out = tmp_path / "sparse.tif"
    writer = io.create_geotiff(out, grid, "uint8", 255, None, ["m"], {"SPARSE_OK": "TRUE"})
    writer.write(0, 0, np.ones((512, 1024), np.uint8))  # the bottom row of blocks is never written
    writer.close()
    with pytest.raises(OSError, match="2 of 4 blocks did not reach the disk"):
        check_stored(out, io)


def test_the_tally_counts_each_class_and_the_valid_pixels():
    rng = np.random.default_rng(0)
    blocks = [rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=(64, 96)) for _ in range(3)]
    tally = Tally()
    for block in blocks:
        tally.add(block)
    counts = np.bincount(np.concatenate([b.ravel() for b in blocks]), minlength=256)
    assert tally.counts == {value: counts[value] for value in range(4)}
    assert tally.water == counts[1] and tally.valid == counts.sum() - counts[255]
