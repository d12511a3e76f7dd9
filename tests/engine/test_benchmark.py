"""floodsar benchmark: generated rasters, a child's peak memory, FLOP counting, the report and its errors."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import tracemalloc

import numpy as np
import pytest
import rasterio

from floodsar.engine.benchmark import estimates, measure, run, scene
from floodsar.engine.cli import main
from floodsar.engine.errors import FloodSarError
from floodsar.engine.sentinel1 import open_sentinel1
from helpers.benchmark_targets import targets

#: Small rasters and tiles: the conv3x3 test model has tile 128, overlap 16, stride 16.
SMALL = ["--sizes", "256", "600", "--tile", "128", "--inference-tiles", "4"]
CONV3X3_FLOPS_PER_128_TILE = 2 * 2 * 3 * 3 * 128 * 128  # 2 FLOPs x 2 input bands x 3 x 3 kernel x pixels


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["benchmark", *(str(a) for a in argv)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def full_run(conv_model, tmp_path_factory):
    """One benchmark of conv3x3.onnx and its conv3x3.pt2 twin: (exit code, stdout, stderr, JSON, workdir)."""
    folder = tmp_path_factory.mktemp("benchmark")
    code, stdout, stderr = run_cli("--model", conv_model, *SMALL, "--json", folder / "numbers.json",
                                   "--workdir", folder / "work", "--trust-model")
    numbers = json.loads((folder / "numbers.json").read_text()) if code == 0 else None
    return code, stdout, stderr, numbers, folder / "work"


def test_generated_raster_has_the_asked_size_bands_and_crs(tmp_path):
    path = scene.generate_raster(tmp_path / "scene.tif", 300, 200)
    with rasterio.open(path) as ds:
        assert (ds.width, ds.height, ds.count) == (300, 200, 2)
        assert ds.descriptions == ("VV", "VH") and ds.dtypes == ("float32", "float32")
        assert ds.crs.to_epsg() == 32633 and ds.res == (10.0, 10.0)
        assert ds.profile["tiled"] and ds.compression.name == "deflate"
        vv, vh = ds.read()
    assert -45 < vh.min() and vv.max() < 10
    assert (vh < -24).mean() > 0.05 and (vh > -18).mean() > 0.3  # water and land both present
    with open_sentinel1([path]) as source:
        assert source.units == "db"
        assert source.band_names == ('scene.tif band 1 "VV" (from its description)',
                                     'scene.tif band 2 "VH" (from its description)')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_raster_generation_holds_one_block_at_a_time(tmp_path):
    """A 3,000 px raster (72 MB of pixels) is generated with far less memory than the raster."""
    tracemalloc.start()
    try:
        scene.generate_raster(tmp_path / "big.tif", 3000, 3000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30e6


def test_peak_rss_is_the_child_s_own(tmp_path):
    log = tmp_path / "child.log"
    big, seconds = measure.peak_rss([sys.executable, "-c", "x = b'x' * 300_000_000; print('done')"], log)
    assert 300e6 <= big < 600e6 and seconds > 0 and log.read_text().strip() == "done"
    held = np.ones(300_000_000 // 8)  # this process is now large: a small child must not inherit that
    small, _ = measure.peak_rss([sys.executable, "-c", "pass"], log)
    assert 0 < small < 100e6 and held.sum() > 0


def test_peak_rss_of_a_failing_child_is_a_clear_error(tmp_path):
    with pytest.raises(FloodSarError, match="failed \\(out of luck\\)"):
        measure.peak_rss([sys.executable, "-c", "raise SystemExit('out of luck')"], tmp_path / "child.log")


def test_flops_of_a_1x1_convolution():
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(2, 3, kernel_size=1)
    assert measure.tile_flops(conv, channels=2, tile=64) == 2 * 2 * 3 * 64 * 64


def test_full_scene_estimates_count_fixed_costs_once():
    scene = estimates.SCENE_PIXELS
    assert estimates.scene_seconds(10.0, 1_000_000, fixed_s=2.0) == pytest.approx(2.0 + 8.0 * scene / 1e6)
    assert estimates.scene_seconds(10.0, 1_000_000, fixed_s=12.0) == pytest.approx(10.0 * scene / 1e6)
    # fresh processes: 3 s on 1,000^2 px and 6 s on 2,000^2 px -> 2 s start-up + 1 s per Mpx
    runs = [{"size": 1000, "peak_rss_bytes": 300e6, "seconds": 3.0},
            {"size": 2000, "peak_rss_bytes": 330e6, "seconds": 6.0}]
    summary = estimates.memory_summary(runs)
    assert summary["fresh_full_scene_s"] == pytest.approx(2.0 + scene / 1e6)
    assert summary["growth"] == pytest.approx(1.1) and summary["bytes_per_extra_pixel"] == pytest.approx(10.0)
    # 30 MB more for 3 Mpx more: if that went on, a full scene would need 330 MB + 10 bytes x the rest of it
    assert summary["full_scene_worst_case_rss_bytes"] == pytest.approx(330e6 + 10 * (scene - 4e6))
    one = estimates.memory_summary(runs[:1])  # one size: no growth, no fresh-process line to extend
    assert one["bytes_per_extra_pixel"] is None and one["fresh_full_scene_s"] is None


def test_report_and_json_cover_both_backends(full_run):
    code, stdout, stderr, numbers, _ = full_run
    assert code == 0, stderr
    assert [b["backend"] for b in numbers["backends"]] == ["onnx", "torch"]
    for entry in numbers["backends"]:
        assert entry["device"] == "cpu" and entry["batch"] == 1
        for kind in ("inference", "end_to_end"):
            assert entry[kind]["tiles_per_s"] > 0 and entry[kind]["mpx_per_s"] > 0
        assert entry["inference"]["tiles"] == 4 and entry["end_to_end"]["tiles"] == 9  # 256 px: 3 x 3 tiles
        run = entry["end_to_end"]  # the model's calls timed inside the same run: one per tile at batch 1
        assert run["model_calls"] == 9 and 0 < run["model_s"] < run["seconds"] - run["load_s"]
        assert run["engine_share"] == pytest.approx(1 - run["model_s"] / run["seconds"])
        assert entry["full_scene_s"] > 0 and 0 < entry["peak_fraction"] < 1
    assert numbers["model"]["flops_per_tile"] == CONV3X3_FLOPS_PER_128_TILE
    assert set(numbers["ratios"]["cpu"]) == {"onnx/torch"}  # no int8 twin beside conv3x3.onnx
    assert set(numbers["ratios"]["cpu"]["onnx/torch"]) == {"inference", "end_to_end"}
    assert numbers["full_scene"] == [] and "Full scene, measured" not in stdout  # only with --full-scene
    assert numbers["matmul"]["cpu"]["gflops"] > 0
    assert numbers["machine"]["cpu"] and numbers["machine"]["logical_cores"] >= 1
    assert "CPUExecutionProvider" in numbers["backends"][0]["runtime"]
    assert "| onnxruntime " in stdout and "| torch " in stdout and "ONNX Runtime / PyTorch on cpu" in stdout
    assert "Engine share" in stdout and "{" not in stdout  # every placeholder filled
    assert "Machine:" in stdout and "floodsar benchmark: end to end, PyTorch" in stderr


def test_peak_memory_is_measured_per_size_in_fresh_processes(full_run):
    code, stdout, _, numbers, workdir = full_run
    assert code == 0
    memory = numbers["memory"]
    assert [run["size"] for run in memory["runs"]] == [256, 600]
    assert all(30e6 < run["peak_rss_bytes"] < 2e9 and run["seconds"] > 0 for run in memory["runs"])
    verdicts = targets(numbers)
    assert "targets" not in numbers and list(verdicts.values())[1] is True  # memory: under 2 GB
    assert list(verdicts.values())[2] is None  # no GPU here
    assert "| 600 x 600 px |" in stdout
    # the rasters stay in --workdir for the next run; the masks written are gone
    assert sorted(p.name for p in workdir.glob("*.tif")) == ["benchmark_256.tif", "benchmark_600.tif"]


def test_missing_torch_twin_skips_pytorch_with_a_note(pointwise_model, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the default workdir goes here
    code, stdout, stderr = run_cli("--model", pointwise_model, "--backends", "onnx", "torch", "--sizes", "256",
                                   "--tile", "128", "--inference-tiles", "2")
    assert code == 0, stderr
    assert "Note: PyTorch skipped: there is no pointwise.pt2 beside" in stdout
    assert "| onnxruntime " in stdout and "| torch " not in stdout
    assert "ONNX Runtime / PyTorch" not in stdout
    assert list(tmp_path.iterdir()) == []  # the temporary workdir was removed


@pytest.mark.parametrize("argv, named", [
    (["--model", "{tmp}/missing.onnx"], "missing.onnx"),
    (["--model", "{conv}", "--sizes", "0"], "--sizes"),
    (["--model", "{conv}", "--batch", "0"], "--batch"),
    (["--model", "{conv}", "--tile", "100", "--trust-model"], "tile size 100"),
    (["--model", "{conv}", "--json", "{tmp}/nowhere/b.json"], "nowhere"),
])
def test_bad_options_give_one_line_and_exit_1(conv_model, tmp_path, argv, named):
    argv = [a.format(tmp=tmp_path, conv=conv_model) for a in argv]
    code, stdout, stderr = run_cli("--sizes", "256", *argv)  # a later --sizes wins
    assert code == 1 and stdout == ""
    assert stderr.startswith("floodsar: error: ") and stderr.count("\n") == 1 and named in stderr


def test_missing_bundled_model_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "DEFAULT_MODEL", tmp_path / "floodsar_s1.onnx")
    code, stdout, stderr = run_cli("--sizes", "256")
    assert code == 1 and stdout == "" and stderr.count("\n") == 1
    assert "no bundled model found" in stderr and "--model PATH" in stderr and "--method" not in stderr


def test_the_command_line_loads_only_the_benchmark_s_options():
    import subprocess

    done = subprocess.run([sys.executable, "-c", "import sys; from floodsar.engine import cli; cli.build_parser(); "
                           "print(' '.join(m for m in sys.modules if 'benchmark' in m))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["floodsar.engine.benchmark", "floodsar.engine.benchmark.command"]


def test_int8_twin_is_measured_beside_fp32_and_the_full_scene_per_precision(conv_model, real_data, tmp_path,
                                                                             monkeypatch):
    """A model with an int8 twin: both in the throughput table with their ratio, and --full-scene maps the
    (here shrunk) scene in a fresh process per precision."""
    from floodsar.engine.models import int8_twin
    from floodsar.training.quantize import quantise

    fp32 = tmp_path / "conv3x3.onnx"
    fp32.write_bytes(conv_model.read_bytes())
    quantise(fp32, int8_twin(fp32), [(real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif",)])
    monkeypatch.setattr(run, "SCENE_WIDTH", 300)
    monkeypatch.setattr(run, "SCENE_HEIGHT", 200)
    code, stdout, stderr = run_cli("--model", fp32, "--backends", "onnx", "--sizes", "256", "--tile", "128",
                                   "--inference-tiles", "2", "--full-scene", "--json", tmp_path / "n.json",
                                   "--workdir", tmp_path / "work")
    assert code == 0, stderr
    numbers = json.loads((tmp_path / "n.json").read_text())
    assert [(b["variant"], b["backend"], b["precision"]) for b in numbers["backends"]] == [
        ("onnx", "onnx", "fp32"), ("onnx-int8", "onnx", "int8")]
    assert numbers["ratios"]["cpu"]["int8/fp32"]["inference"] > 0
    assert [(r["precision"], r["seconds"] > 0, 30e6 < r["peak_rss_bytes"] < 2e9) for r in numbers["full_scene"]] == [
        ("fp32", True, True), ("int8", True, True)]
    assert "ONNX Runtime int8 / fp32 on cpu" in stdout and "| conv3x3_int8.onnx | int8 |" in stdout
    assert (tmp_path / "work" / "benchmark_300x200.tif").is_file()
    assert list(targets(numbers).values())[-2:] == [True, True]  # a 300 x 200 px "scene" is quick
