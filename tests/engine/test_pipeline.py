"""The pipeline end to end on real chips with small real ONNX / torch.export models."""
from __future__ import annotations

import dataclasses
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from osgeo import gdal

from floodsar.engine.errors import CancelledError, FloodSarError
from floodsar.engine.metadata import ModelMetadata
from floodsar.engine.benchmark.measure import TimedBackend
from floodsar.engine.models import load_model
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.engine.scene_statistics import SAMPLE_GRIDS
from floodsar.engine.tiling import plan_tiles, spread_windows
from helpers.rasters import read_band, unwritable_folder, write_geotiff


def read_all(path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def whole_raster_probability(model: Path, stack: np.ndarray) -> np.ndarray:
    """The model run once on the whole [2, H, W] dB raster (invalid pixels at 0, the mean), -1 at nodata."""
    valid = np.isfinite(stack).all(0) & (stack != 0).any(0)
    x = ModelMetadata(name="x", architecture="x").normalise(stack)
    x[:, ~valid] = 0
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.where(valid, session.run(None, {"input": x[None]})[0][0, 0], -1)


def expected_pointwise(chip: Path) -> tuple[np.ndarray, np.ndarray]:
    """(mask, probability) the pointwise test model must give, computed directly from the chip."""
    stack = read_all(chip).astype(np.float32)
    vh = stack[1]
    valid = np.isfinite(stack).all(0) & (stack != 0).any(0)
    meta = ModelMetadata(name="x", architecture="x")
    x = (np.clip(vh, *meta.clip_db) - meta.mean[1]) / meta.std[1]
    probability = 1 / (1 + np.exp(4.0 * (x + 0.5)))
    mask = np.where(valid, probability >= 0.5, 255).astype(np.uint8)
    return mask, np.where(valid, probability, -1)


def spain_with_holes(chips, folder: Path) -> Path:
    """The Spain chip with a NaN block across tile borders and an unflagged zero border (nodata both)."""
    data = read_all(chips["spain"]).astype(np.float32)
    data[:, 100:200, 150:300] = np.nan
    data[:, :, :20] = 0.0
    source = gdal.Open(str(chips["spain"]))
    return write_geotiff(folder / "spain_holes.tif", data, epsg=4326, transform=source.GetGeoTransform())


def test_two_band_chip_gives_the_models_mask_with_nodata_and_same_grid(chips, pointwise_model, tmp_path):
    chip = spain_with_holes(chips, tmp_path)
    result = predict(PredictionRequest([chip], tmp_path / "mask.tif", model=pointwise_model,
                                       probabilities=tmp_path / "p.tif"))
    mask, probability = expected_pointwise(chip)
    got = read_band(result.output)
    assert np.mean(got != mask) < 1e-4  # only pixels right at p = 0.5 may differ
    assert np.array_equal(got == 255, mask == 255) and (mask == 255).any()  # NaN -> 255
    np.testing.assert_allclose(read_band(result.probabilities), probability, atol=1e-5)
    source, out = gdal.Open(str(chip)), gdal.Open(str(result.output))
    assert out.GetGeoTransform() == source.GetGeoTransform()
    assert out.GetSpatialRef().IsSame(source.GetSpatialRef())
    assert (out.RasterXSize, out.RasterYSize) == (512, 512)
    pixel_km2 = result.valid_area_km2 / np.count_nonzero(got != 255)
    assert result.water_area_km2 == pytest.approx(np.count_nonzero(got == 1) * pixel_km2)
    assert 0.5 < result.valid_area_km2 / (512 * 512 * 1e-4) < 1.5  # ~10 m pixels
    assert "CPUExecutionProvider" in result.backend and result.warnings == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.tif", "p.tif", "spain_holes.tif"]  # no temporaries


def test_separate_vv_vh_files_stitch_seamlessly(chips, conv_model, tmp_path):
    """Tiled 3x3-conv result == the model run on the whole 512 x 512 chip at once."""
    vv, vh = chips["jja10_vv"], chips["jja10_vh"]
    result = predict(PredictionRequest([vv, vh], tmp_path / "mask.tif", model=conv_model, tile=128, overlap=8,
                                       probabilities=tmp_path / "p.tif"))
    stack = np.stack([read_all(vv), read_all(vh)]).astype(np.float32)
    np.testing.assert_allclose(read_band(result.probabilities), whole_raster_probability(conv_model, stack),
                               atol=1e-5)
    assert result.water_area_km2 > 0


def test_both_backends_and_batch_sizes_give_the_same_mask(chips, conv_model, tmp_path):
    masks = []
    for i, (backend, batch) in enumerate((("onnx", 1), ("onnx", 3), ("torch", 2))):
        result = predict(PredictionRequest([chips["spain"]], tmp_path / f"m{i}.tif", model=conv_model,
                                           backend=backend, batch=batch, device="cpu", trust_model=True))
        masks.append(read_band(result.output))
        assert backend in result.backend.lower() or backend == "onnx"
    assert np.array_equal(masks[0], masks[1])
    assert np.mean(masks[0] != masks[2]) < 1e-4 and np.array_equal(masks[0] == 255, masks[2] == 255)


@pytest.mark.parametrize("calls_before_cancel", [0, 3])
def test_cancel_leaves_no_output(chips, pointwise_model, tmp_path, calls_before_cancel):
    calls = []

    def is_cancelled() -> bool:
        calls.append(1)
        return len(calls) > calls_before_cancel

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CancelledError):
        predict(PredictionRequest([chips["spain"]], out / "mask.tif", model=pointwise_model,
                                  probabilities=out / "p.tif", vector=out / "w.gpkg"), is_cancelled=is_cancelled)
    assert list(out.iterdir()) == []


def test_progress_rises_to_100(chips, pointwise_model, tmp_path):
    seen = []
    predict(PredictionRequest([chips["spain"]], tmp_path / "m.tif", model=pointwise_model), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) == 36  # 6 x 6 tiles: 128 px, step 96


@pytest.mark.parametrize("method", ["model", "otsu"])
def test_all_nodata_input_is_refused_and_writes_nothing(chips, pointwise_model, tmp_path, method):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FloodSarError, match="Paraguay_34417_S1Hand.tif: contains no valid pixel"):
        predict(PredictionRequest([chips["paraguay_nan"]], out / "mask.tif", method=method,
                                  model=pointwise_model if method == "model" else None))
    assert list(out.iterdir()) == []


def test_otsu_method_on_wet_and_dry_chips(chips, tmp_path):
    wet = predict(PredictionRequest([chips["jja10_vv"], chips["jja10_vh"]], tmp_path / "wet.tif", method="otsu"))
    label = read_band(chips["jja10_label"])
    mask = read_band(wet.output)
    both = (label != 255) & (mask != 255)
    iou = ((mask == 1) & (label == 1) & both).sum() / (((mask == 1) | (label == 1)) & both).sum()
    assert iou > 0.5 and wet.warnings == [] and -25 < wet.threshold_db < -17
    dry = predict(PredictionRequest([chips["ghana_dry"]], tmp_path / "dry.tif", method="otsu"))
    assert dry.water_area_km2 < 0.01 * dry.valid_area_km2 and "bimodal" in dry.warnings[0]


def test_vector_and_minimum_mapping_unit(chips, tmp_path):
    plain = predict(PredictionRequest([chips["spain"]], tmp_path / "plain.tif", method="otsu",
                                      vector=tmp_path / "plain.gpkg"))
    sieved = predict(PredictionRequest([chips["spain"]], tmp_path / "sieved.tif", method="otsu",
                                       vector=tmp_path / "sieved.gpkg", min_area_m2=5000))
    assert plain.vector.is_file() and 0 < sieved.polygons < plain.polygons
    mask = read_band(sieved.output)
    pixel_km2 = sieved.valid_area_km2 / np.count_nonzero(mask != 255)
    assert sieved.water_area_km2 == pytest.approx(np.count_nonzero(mask == 1) * pixel_km2)  # recounted


def test_linear_power_input_gives_the_same_mask_as_db(chips, pointwise_model, tmp_path):
    db = read_all(chips["spain"]).astype(np.float32)
    source = gdal.Open(str(chips["spain"]))
    linear = write_geotiff(tmp_path / "linear.tif", (10 ** (db / 10)).astype(np.float32), epsg=4326,
                           transform=source.GetGeoTransform(), descriptions=("VV", "VH"))
    a = predict(PredictionRequest([chips["spain"]], tmp_path / "a.tif", model=pointwise_model))
    b = predict(PredictionRequest([linear], tmp_path / "b.tif", model=pointwise_model))
    assert np.mean(read_band(a.output) != read_band(b.output)) < 1e-4


def test_coarse_pixels_are_warned_about(tmp_path, pointwise_model):
    rng = np.random.default_rng(0)
    data = rng.normal(-15, 3, size=(2, 40, 50)).astype(np.float32)
    path = write_geotiff(tmp_path / "coarse.tif", data, transform=(500000.0, 40.0, 0.0, 4000000.0, 0.0, -40.0))
    result = predict(PredictionRequest([path], tmp_path / "m.tif", model=pointwise_model))
    assert any("pixel size is about 40.0 m" in w for w in result.warnings)
    assert read_band(result.output).shape == (40, 50)


@pytest.mark.parametrize("change,message", [
    ({"method": "sam"}, "unknown method"),
    ({"backend": "tf"}, "unknown backend"),
    ({"device": "tpu"}, "unknown device 'tpu'; use device auto or device cpu or device cuda"),
    ({"units": "decibel"}, "unknown units"),
    ({"tile": 100}, "multiple of the model's stride 16"),
    ({"overlap": 64}, "more than a quarter of the 128 px tile"),
    ({"batch": 0}, "batch must be"),
    ({"min_area_m2": -1}, "minimum area must be"),
    ({"output": "mask.png"}, "must end in .tif"),
    ({"vector": "water.shp"}, "must end in .gpkg"),
    ({"method": "otsu", "probabilities": "p.tif"}, "probabilities needs method model"),
    ({"probabilities": "mask.tif"}, "must be different files"),
])
def test_bad_requests_are_refused_before_any_output(chips, pointwise_model, tmp_path, change, message):
    fields = dict(inputs=[chips["spain"]], output="mask.tif", model=pointwise_model)
    fields.update(change)
    for key in ("output", "vector", "probabilities"):
        if isinstance(fields.get(key), str):
            fields[key] = tmp_path / fields[key]
    with pytest.raises(FloodSarError, match=message):
        predict(PredictionRequest(**fields))
    assert list(tmp_path.iterdir()) == []


def test_output_must_not_overwrite_the_input_or_go_to_an_unwritable_folder(chips, pointwise_model, tmp_path):
    copy = write_geotiff(tmp_path / "in.tif", read_all(chips["spain"]).astype(np.float32), epsg=4326,
                         transform=gdal.Open(str(chips["spain"])).GetGeoTransform())
    with pytest.raises(FloodSarError, match="would overwrite the input"):
        predict(PredictionRequest([copy], copy, model=pointwise_model))
    with pytest.raises(FloodSarError, match="cannot write to the folder"):
        predict(PredictionRequest([copy], unwritable_folder(tmp_path) / "m.tif", model=pointwise_model))


def mosaic_vrt(chip: Path, path: Path, copies: int) -> Path:
    """A VRT repeating a 512 px chip copies x copies times (a large raster without a large file)."""
    source = gdal.Open(str(chip))
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{chip}</SourceFilename><SourceBand>{{band}}</SourceBand>'
        f'<SrcRect xOff="0" yOff="0" xSize="512" ySize="512"/>'
        f'<DstRect xOff="{j * 512}" yOff="{i * 512}" xSize="512" ySize="512"/></SimpleSource>'
        for i in range(copies) for j in range(copies))
    size = 512 * copies
    bands = "".join(f'<VRTRasterBand dataType="Float32" band="{b}">{sources.format(band=b)}</VRTRasterBand>'
                    for b in (1, 2))
    srs = source.GetProjection().replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    transform = ", ".join(repr(v) for v in source.GetGeoTransform())
    path.write_text(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>{srs}</SRS>'
                    f"<GeoTransform>{transform}</GeoTransform>{bands}</VRTDataset>")
    return path


@pytest.mark.slow
def test_memory_is_bounded_on_a_20480_px_raster(chips, tmp_path):
    """419 Mpx through the model path in a child process: peak resident memory well under 2 GB."""
    import resource
    import subprocess

    from helpers.models import model_metadata, onnx_model, save_onnx

    model = save_onnx(onnx_model("conv3x3", model_metadata(tile_size=512, overlap=16)), tmp_path / "conv.onnx")
    big = mosaic_vrt(chips["spain"], tmp_path / "big.vrt", 40)
    done = subprocess.run([sys.executable, "-m", "floodsar.engine.cli", "predict", str(big),
                           "-o", str(tmp_path / "big_mask.tif"), "--model", str(model), "--batch", "2"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 1000, f"peak resident memory {peak_mb:.0f} MB"
    assert gdal.Open(str(tmp_path / "big_mask.tif")).RasterXSize == 20480


def test_tiles_entirely_nodata_never_reach_the_model(chips, conv_model, tmp_path):
    """A raster with a large NaN block: the model runs only on tiles with a valid pixel, and the
    probabilities equal the model run on the whole raster at once (no tile skipped there)."""
    data = read_all(chips["spain"]).astype(np.float32)
    data[:, :300, :] = np.nan
    source = gdal.Open(str(chips["spain"]))
    raster = write_geotiff(tmp_path / "holes.tif", data, epsg=4326, transform=source.GetGeoTransform())
    model = load_model(conv_model)
    timed = TimedBackend(model.backend)
    result = predict(PredictionRequest([raster], tmp_path / "mask.tif", probabilities=tmp_path / "p.tif",
                                       tile=128, overlap=8, batch=2),
                     model=dataclasses.replace(model, backend=timed))
    plan = plan_tiles(512, 512, 128, 8, model.metadata.stride)
    with_data = [t for t in plan if t.read.row + t.read.height > 300]  # rows 300+ are valid everywhere
    assert 0 < len(with_data) < len(plan)
    runs = [len(list(run)) for _, run in itertools.groupby(with_data, key=lambda t: (t.read.height, t.read.width))]
    assert len(runs) > 1  # the last tile column is narrower: its tiles are batched apart
    assert timed.calls == sum(math.ceil(run / 2) for run in runs)  # batches of 2, of one tile shape each
    np.testing.assert_allclose(read_band(result.probabilities), whole_raster_probability(conv_model, data),
                               atol=1e-5)


class _ShapeLog:
    """The model's backend, recording the shape of each batch, on ``device`` as the pipeline sees it: "cuda" is a
    stand-in for a GPU, which this machine lacks (only the tile plan reads it; the model still runs on the CPU)."""

    def __init__(self, backend, device: str) -> None:
        self.backend, self.device, self.streams, self.description = backend, device, 1, backend.description
        self.shapes: list = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape[2:])
        return self.backend.run(batch)


@pytest.mark.parametrize("device,shapes", [("cpu", {(128, 128), (128, 80), (80, 128), (80, 80)}),
                                           ("cuda", {(128, 128)})])
def test_edge_tiles_are_cut_to_size_on_the_cpu_and_keep_one_shape_on_a_gpu(chips, conv_model, tmp_path, device,
                                                                            shapes):
    model = load_model(conv_model)
    log = _ShapeLog(model.backend, device)
    predict(PredictionRequest([chips["spain"]], tmp_path / "mask.tif", tile=128, overlap=8, batch=2),
            model=dataclasses.replace(model, backend=log))  # 512 px: 5 x 5 tiles, the last cores 64 px (+ 2 x 8)
    assert set(log.shapes) == shapes


def test_polygons_that_cannot_be_written_are_refused_before_inference(chips, pointwise_model, tmp_path, monkeypatch):
    from floodsar.engine.rasterio_io import RasterioIO

    monkeypatch.setitem(sys.modules, "pyogrio", None)  # as if not installed
    started = []
    monkeypatch.setattr("floodsar.engine.pipeline.load_model", lambda *args: started.append(args))
    request = PredictionRequest([chips["spain"]], tmp_path / "m.tif", model=pointwise_model,
                                vector=tmp_path / "w.gpkg", io=RasterioIO())
    with pytest.raises(FloodSarError, match="needs the pyogrio package"):
        predict(request)
    assert started == [] and list(tmp_path.iterdir()) == []


def test_a_wide_raster_mapped_in_column_bands_is_the_same_map(chips, conv_model, monkeypatch, tmp_path):
    """Bands of whole tile columns (row buffers never wider than BAND_COLS) stitch to the same probabilities."""
    whole = predict(PredictionRequest([chips["spain"]], tmp_path / "whole.tif", model=conv_model,
                                      probabilities=tmp_path / "whole_p.tif", tile=128, overlap=16))
    monkeypatch.setattr("floodsar.engine.pipeline.BAND_COLS", 200)  # 2 tile columns of 96 px per band
    banded = predict(PredictionRequest([chips["spain"]], tmp_path / "banded.tif", model=conv_model,
                                       probabilities=tmp_path / "banded_p.tif", tile=128, overlap=16))
    np.testing.assert_array_equal(read_band(banded.probabilities), read_band(whole.probabilities))
    np.testing.assert_array_equal(read_band(banded.output), read_band(whole.output))
    assert banded.water_area_km2 == whole.water_area_km2


def _uncovered_pixel(size: int) -> tuple[int, int]:
    """A pixel that none of the units sample's windows reads (the sample cannot see it)."""
    covered = np.zeros((size, size), dtype=bool)
    for count, side in SAMPLE_GRIDS:
        for w in spread_windows(size, size, count, side):
            covered[w.row:w.row + w.height, w.col:w.col + w.width] = True
    rows, cols = np.nonzero(~covered)
    return int(rows[len(rows) // 2]), int(cols[len(cols) // 2])


def test_valid_pixels_the_sample_misses_are_mapped_and_an_empty_raster_is_refused_before_the_model(
        chips, pointwise_model, tmp_path):
    """The all-nodata check never refuses a raster with a valid pixel, even one no sampled window holds;
    a raster that is entirely NaN is refused before any output is opened and before the model runs."""
    size = 1200
    data = np.full((2, size, size), np.nan, dtype=np.float32)
    row, col = _uncovered_pixel(size)
    data[:, row:row + 2, col:col + 2] = [[[-20.0]], [[-28.0]]]
    sparse = write_geotiff(tmp_path / "sparse.tif", data, descriptions=["VV", "VH"])
    result = predict(PredictionRequest([sparse], tmp_path / "sparse_mask.tif", model=pointwise_model))
    mask = read_band(result.output)
    assert np.count_nonzero(mask != 255) == 4 and (mask[row:row + 2, col:col + 2] == 1).all()
    empty = write_geotiff(tmp_path / "empty.tif", np.full((2, size, size), np.nan, np.float32))
    out = tmp_path / "out"
    out.mkdir()
    model = load_model(pointwise_model)
    timed = TimedBackend(model.backend)
    with pytest.raises(FloodSarError, match="empty.tif: contains no valid pixel"):
        predict(PredictionRequest([empty], out / "mask.tif"), model=dataclasses.replace(model, backend=timed))
    assert timed.calls == 0 and list(out.iterdir()) == []


def test_neighbouring_tiles_are_read_in_one_window_no_wider_than_read_cols(real_data, monkeypatch):
    """Each tile gets exactly what a read of its own window gives, from fewer, bounded reads."""
    from floodsar.engine import pipeline
    from floodsar.engine.sentinel1 import open_sentinel1
    from floodsar.engine.tiling import column_bands

    monkeypatch.setattr(pipeline, "READ_COLS", 300)
    plan = plan_tiles(512, 512, 128, 16)
    tiles = [tile for band in column_bands(plan, 512, 64) for tile in band.tiles]  # bands of 4 and 2 columns
    with open_sentinel1([real_data / "sen1floods11/S1Hand/Spain_7370579_S1Hand.tif"]) as source:
        widths = []
        read_db = source.read_db
        monkeypatch.setattr(source, "read_db", lambda *window, **kw: (widths.append(window[3]), read_db(*window, **kw))[1])
        got = list(pipeline._read_rows(source, tiles))
        assert [tile for tile, _, _ in got] == tiles
        # two tiles (128 + 96 px) per read, as three pass 300; in the second band the last column's tiles are
        # 64 px wide (a 32 px core + 2 x 16)
        assert len(tiles) == 36 and widths == [224] * 12 + [160] * 6
        monkeypatch.setattr(source, "read_db", read_db)
        for tile, db, valid in got:
            own_db, own_valid = source.read_db(tile.read.row, tile.read.col, tile.read.height, tile.read.width)
            np.testing.assert_array_equal(valid, own_valid)
            np.testing.assert_array_equal(db[:, valid], own_db[:, own_valid])
