"""floodsar batch: a flood event's scenes mapped on a REAL Dask cluster (scheduler and workers on
127.0.0.1), with a failing scene, the mosaic, the report (overlaps counted once), a rerun and Ctrl-C.

Scenes are overlapping windows of the bundled real Sentinel-1 chip (Sen1Floods11, Spain), one of
them warped to UTM; the paired VV/VH test uses the real STAC Overflow chips when present.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from distributed import Client, LocalCluster  # imported first: keeps a checkout folder named "dask" from
from osgeo import gdal                        # shadowing the real dask (pytest imports the root by folder name)

from floodsar.engine.cli import main
from floodsar.engine.errors import FloodSarError
from floodsar.engine.event.inputs import expand_inputs, group_scenes, plan_scenes
from floodsar.engine.event.mosaic import row_areas_km2
from floodsar.engine.dates import acquisition_date
from floodsar.engine.event.runner import DONE, SceneJob, default_workers, map_scene, runs_on_gpu
from floodsar.engine.formats import gdal_config
from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.predict_options import settings
from floodsar.engine.rasterio_io import RasterioIO
from floodsar.engine.request import PredictionRequest
from helpers.signals import as_from_a_terminal

gdal.UseExceptions()
BIN = Path(sys.executable).parent
#: Windows (col, row, width, height) of the 512 px sample chip: a and b overlap by 128 x 128 pixels.
WINDOW_A, WINDOW_B = (0, 0, 320, 320), (192, 192, 320, 320)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


@pytest.fixture(scope="module")
def cluster():
    """A real local Dask cluster: scheduler and 2 worker processes on 127.0.0.1."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, repo_root) -> dict[str, Path]:
    """Three overlapping real scenes (a, b in EPSG:4326, c warped to UTM 30N) and a broken download."""
    folder = tmp_path_factory.mktemp("event")
    sample = str(repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif")
    paths = {"a": folder / "S1A_20190101_a.tif", "b": folder / "S1A_20190105_b.tif",
             "c": folder / "S1A_20190103_c.tif", "broken": folder / "S1A_20190102_broken.tif"}
    gdal.Translate(str(paths["a"]), sample, srcWin=list(WINDOW_A))
    gdal.Translate(str(paths["b"]), sample, srcWin=list(WINDOW_B))
    corner = gdal.Translate("/vsimem/c.tif", sample, srcWin=[0, 256, 256, 256])
    gdal.Warp(str(paths["c"]), corner, dstSRS="EPSG:32630", resampleAlg="near")
    corner = None
    gdal.Unlink("/vsimem/c.tif")
    paths["broken"].write_text("<html>503 Service Unavailable</html>\n")
    return paths


def test_inputs_expand_globs_and_lists_and_pair_vv_with_vh(tmp_path):
    for name in ("x_vv.tif", "x_vh.tif", "y_VV_grd.tif", "lone_vh.tif", "two.tif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.txt").write_text(f"# scenes\n../two.tif\n\n{tmp_path / 'y_*.tif'}\n")
    files = expand_inputs([str(tmp_path / "x_*.tif"), f"@{tmp_path / 'sub' / 'list.txt'}",
                           str(tmp_path / "lone_vh.tif"), str(tmp_path / "x_vh.tif")])
    assert [f.name for f in files] == ["x_vh.tif", "x_vv.tif", "two.tif", "y_VV_grd.tif", "lone_vh.tif"]
    groups = [[f.name for f in group] for group in group_scenes(files)]
    assert groups == [["x_vv.tif", "x_vh.tif"], ["two.tif"], ["y_VV_grd.tif"], ["lone_vh.tif"]]
    planned = plan_scenes([str(tmp_path / "x_v?.tif"), str(tmp_path / "two.tif")], tmp_path / "out", ["vector"])
    assert [(s.name, s.output.name, s.record.name) for s in planned] == [
        ("x", "x_water.tif", "x_water.json"), ("two", "two_water.tif", "two_water.json")]
    assert planned[0].outputs() == [tmp_path / "out" / "x_water.tif", tmp_path / "out" / "x_water.gpkg"]


def test_inputs_refuse_typos_and_name_clashes(tmp_path):
    with pytest.raises(FloodSarError, match=r"nothing_\*\.tif: no file matches this pattern"):
        expand_inputs([str(tmp_path / "nothing_*.tif")])
    with pytest.raises(FloodSarError, match="missing.tif: file not found"):
        expand_inputs([str(tmp_path / "missing.tif")])
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "scene.tif").write_bytes(b"")
    with pytest.raises(FloodSarError, match="both are named 'scene'"):
        plan_scenes([str(tmp_path / "one" / "scene.tif"), str(tmp_path / "two" / "scene.tif")], tmp_path)


def test_dates_come_from_names_then_tags(tmp_path, repo_root):
    assert acquisition_date([Path("S1A_IW_GRDH_1SDV_20220830T013512_20220830T013537.tif")]) == "2022-08-30T01:35:12"
    assert acquisition_date([Path("pakistan-2022-08-30_vv.tif")]) == "2022-08-30"
    tagged = tmp_path / "tagged.tif"
    gdal.Translate(str(tagged), str(repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif"),
                   metadataOptions=["datetime=2021-07-21T08:40:10.000000000"])
    assert acquisition_date([tagged]) == "2021-07-21T08:40:10"
    assert acquisition_date([repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif"]) is None


def test_default_workers_one_per_core_one_for_a_gpu_never_more_than_scenes():
    """No GPU here: the choice is tested with ONNX Runtime's provider lists of a GPU machine and of this one."""
    cores = len(os.sched_getaffinity(0))
    assert default_workers(False, 100) == cores and default_workers(False, 1) == 1
    assert default_workers(True, 100) == 1
    gpu, cpu = ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]
    auto = PredictionRequest(["scene.tif"], "water.tif")
    assert runs_on_gpu(auto, gpu) and not runs_on_gpu(auto, cpu) and not runs_on_gpu(auto)
    assert runs_on_gpu(dataclasses.replace(auto, device="cuda"), cpu)  # it then fails on the worker, saying why
    assert not runs_on_gpu(dataclasses.replace(auto, device="cpu"), gpu)
    assert not runs_on_gpu(dataclasses.replace(auto, method="otsu"), gpu)


@pytest.mark.parametrize("threads, gdal_threads", [(1, "1"), (None, "ALL_CPUS")])
def test_a_worker_gives_gdal_its_share_of_the_cores(monkeypatch, scenes, tmp_path, threads, gdal_threads):
    """A scene mapped with ``threads`` (a local cluster's share of the cores per worker) opens and creates
    its files with that many GDAL threads, not one per core in every worker; afterwards GDAL has every core."""
    seen, real_open = [], rasterio.open

    def open_and_note_threads(*args, **kwargs):
        seen.append(rasterio.env.getenv().get("GDAL_NUM_THREADS") if rasterio.env.hasenv() else None)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(rasterio, "open", open_and_note_threads)
    (scene,) = plan_scenes([str(scenes["a"])], tmp_path)
    request = PredictionRequest(inputs=list(scene.inputs), output=scene.output, method="otsu", io=RasterioIO())
    outcome = map_scene(SceneJob(scene, request, settings(request), pixels=0, threads=threads))
    assert outcome.status == DONE and scene.output.exists()
    assert seen.count(gdal_threads) >= 2  # the input and the mask at least (more where rasterio reads back)
    assert set(seen) <= {gdal_threads, None}  # None: a quick look outside any GDAL work, e.g. at a written file
    assert gdal_config() == {"GDAL_NUM_THREADS": "ALL_CPUS"}


def test_pixel_areas_shrink_with_latitude():
    wgs84 = gdal.osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    grid = GdalIO().grid(10, 3, wgs84.ExportToWkt(), (0.0, 0.001, 0.0, 60.0015, 0.0, -0.001))
    areas = row_areas_km2(grid, 0, 3)
    assert areas[1] == pytest.approx((111.195 * 0.001) ** 2 * 0.5, rel=1e-3) and areas[0] < areas[1] < areas[2]


def _mosaic_check(scenes: dict[str, Path], outdir: Path, mosaic: Path) -> None:
    """The COG combines a and b (same grid) exactly by the rule: water where any saw water."""
    a, b = read(outdir / "S1A_20190101_a_water.tif"), read(outdir / "S1A_20190105_b_water.tif")
    event = read(mosaic)
    info = gdal.Info(str(mosaic), format="json")
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert "4326" in info["coordinateSystem"]["wkt"].splitlines()[-1]
    ax, dx, _, ay = gdal.Open(str(scenes["a"])).GetGeoTransform()[:4]
    mx, my = info["geoTransform"][0], info["geoTransform"][3]
    col, row = round((ax - mx) / dx), round((my - ay) / dx)  # the warped UTM scene may widen the mosaic
    expected = np.full((512, 512), 255, np.uint8)
    for mask, (c0, r0, w, h) in ((a, WINDOW_A), (b, WINDOW_B)):
        window = expected[r0:r0 + h, c0:c0 + w]
        window[(window == 255) & (mask != 255)] = 0
        window[mask == 1] = 1
    seen = event[row:row + 512, col:col + 512]
    only_ab = np.zeros((512, 512), bool)
    only_ab[:320, :320] = only_ab[192:, 192:] = True
    only_ab[248:, :264] = False  # c (warped there and back) covers that corner too
    assert np.array_equal(seen[only_ab], expected[only_ab]) and (seen[only_ab] == 1).any()
    stack = gdal.Open(str(mosaic.with_suffix(".vrt")))
    assert stack.RasterCount == 3 and stack.GetRasterBand(3).GetDescription() == "S1A_20190103_c"


def test_batch_on_a_local_cluster_maps_every_scene_reports_a_failure_and_counts_overlaps_once(
        capsys, cluster, scenes, tmp_path):
    outdir, mosaic, report = tmp_path / "masks", tmp_path / "event.tif", tmp_path / "event.json"
    outdir.mkdir()
    code, stdout, stderr = run_cli(capsys, "batch", *(scenes[k] for k in ("a", "b", "broken", "c")), "-o", outdir,
                                   "--scheduler", cluster, "--method", "otsu", "--mosaic", mosaic, "--report", report)
    assert code == 1
    assert f"failed S1A_20190102_broken: {scenes['broken']}: not a raster GDAL can read" in stderr
    assert stderr.rstrip().endswith("1 of 4 scenes failed (reasons above); fix them and run the same command "
                                    "again: complete scenes are skipped.")
    assert "Scenes: 4 (3 done, 1 failed)" in stdout and f"Mosaic: {mosaic}" in stdout
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        f"S1A_{s}_water.{ext}" for s in ("20190101_a", "20190105_b", "20190103_c") for ext in ("tif", "json"))
    _mosaic_check(scenes, outdir, mosaic)
    data = json.loads(report.read_text())
    event, by_name = data["event"], {s["name"]: s for s in data["scenes"]}
    assert (event["scenes"], event["mapped"], event["failed"]) == (4, 3, 1)
    assert (event["first_date"], event["last_date"]) == ("2019-01-01", "2019-01-05")
    assert by_name["S1A_20190102_broken"]["status"] == "failed" and "not a raster" in \
        by_name["S1A_20190102_broken"]["reason"]
    own = [by_name[n]["areas_km2"] for n in ("S1A_20190101_a", "S1A_20190105_b", "S1A_20190103_c")]
    total = event["areas_km2"]
    assert total["overlap_km2"] > 0.1 * total["valid_km2"]
    assert total["valid_km2"] == pytest.approx(sum(s["valid_km2"] for s in own) - total["overlap_km2"], abs=1e-5)
    assert max(s["water_km2"] for s in own) < total["water_km2"] < sum(s["water_km2"] for s in own)
    # a and b alone are 320 x 320 pixels each, overlapping by 128 x 128 (no nodata in the chip)
    pixel_km2 = own[0]["valid_km2"] / 320 ** 2
    assert own[1]["valid_km2"] == pytest.approx(pixel_km2 * 320 ** 2, rel=2e-3)


def test_a_rerun_skips_complete_scenes_and_redoes_changed_ones(capsys, cluster, scenes, tmp_path):
    outdir = tmp_path / "masks"
    outdir.mkdir()
    argv = ["batch", scenes["a"], scenes["b"], scenes["c"], "-o", outdir, "--scheduler", cluster, "--method", "otsu"]
    assert run_cli(capsys, *argv)[0] == 0
    first = {p.name: p.stat().st_mtime_ns for p in outdir.iterdir()}
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 0 and "3 scenes: 3 complete from an earlier run, 0 to map" in stderr
    assert "Scenes: 3 (3 skipped)" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in outdir.iterdir()} == first
    (outdir / "S1A_20190101_a_water.tif").unlink()  # lost output
    (outdir / "S1A_20190105_b_water.json").write_text("{")  # damaged record
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 0 and "1 complete from an earlier run, 2 to map" in stderr
    assert "done S1A_20190101_a" in stderr and "done S1A_20190105_b" in stderr
    code, _, stderr = run_cli(capsys, *argv, "--min-area", "5000")  # other settings: every scene again
    assert code == 0 and "0 complete from an earlier run, 3 to map" in stderr
    assert not [p for p in outdir.iterdir() if p.name.startswith(".")]


def test_quiet_batch_says_only_what_failed(capsys, cluster, scenes, tmp_path):
    code, stdout, stderr = run_cli(capsys, "batch", scenes["a"], scenes["broken"], "-o", tmp_path, "--scheduler",
                                   cluster, "--method", "otsu", "-q")
    assert code == 1 and stdout == "" and (tmp_path / "S1A_20190101_a_water.tif").is_file()
    assert [line.split(":")[0] for line in stderr.splitlines()] == ["failed S1A_20190102_broken", "floodsar"]


def test_batch_refuses_bad_options_in_one_line(capsys, scenes, tmp_path):
    code, _, stderr = run_cli(capsys, "batch", scenes["a"], "-o", tmp_path / "nowhere")
    assert code == 1 and stderr == (f"floodsar: error: {tmp_path / 'nowhere'}: the output folder does not exist; "
                                    f"create it first (mkdir -p {tmp_path / 'nowhere'}).\n")
    code, _, stderr = run_cli(capsys, "batch", scenes["a"], "-o", tmp_path, "--mosaic", tmp_path / "event.png")
    assert code == 1 and "--mosaic must end in .tif" in stderr


@pytest.fixture
def stac_pair(request) -> tuple[Path, Path]:
    """The real jja10 VV and VH files (separate single-band rasters), or skip without the shared data."""
    try:
        chips = request.getfixturevalue("chips")
    except pytest.fail.Exception as exc:
        pytest.skip(f"the paired VV/VH case needs the shared real chips: {exc}")
    return chips["jja10_vv"], chips["jja10_vh"]


def _start(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=as_from_a_terminal, **kwargs)


@pytest.fixture
def separate_cluster(tmp_path):
    """A Dask scheduler and two single-thread workers started as separate processes on 127.0.0.1."""
    address_file = tmp_path / "scheduler.json"
    processes = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--dashboard-address", ":0", "--scheduler-file", str(address_file)])]
    try:
        for _ in range(2):
            processes.append(_start(["distributed.cli.dask_worker", "--scheduler-file", str(address_file),
                                     "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]))
        deadline = time.monotonic() + 60
        while not address_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        with Client(scheduler_file=str(address_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            yield client.scheduler.address
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_bundled_model_on_separately_started_scheduler_and_workers(separate_cluster, scenes, tmp_path):
    outdir, mosaic, report = tmp_path / "masks", tmp_path / "event.tif", tmp_path / "event.json"
    outdir.mkdir()
    done = subprocess.run([str(BIN / "floodsar"), "batch", *(str(scenes[k]) for k in ("a", "b", "c")),
                           "-o", str(outdir), "--scheduler", separate_cluster, "--vector", "--mosaic", str(mosaic),
                           "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Dask: {separate_cluster}; dashboard http://127.0.0.1:" in done.stderr
    names = ("S1A_20190101_a", "S1A_20190105_b", "S1A_20190103_c")
    records = [json.loads((outdir / f"{name}_water.json").read_text()) for name in names]
    assert all((outdir / f"{name}_water.gpkg").is_file() for name in names)
    assert all("floodsar_s1_int8.onnx" in r["result"]["backend"] for r in records)  # on the CPU: the int8 model
    # each worker process loaded the model once, whatever the number of scenes it mapped
    assert {r["result"]["model_loads"] for r in records} == {1}
    assert len({r["result"]["worker_pid"] for r in records}) <= 2
    total = json.loads(report.read_text())["event"]["areas_km2"]
    assert total["overlap_km2"] > 0 and (read(mosaic) == 1).any()


def test_vv_and_vh_files_are_mapped_as_one_scene(capsys, cluster, stac_pair, tmp_path):
    code, _, stderr = run_cli(capsys, "batch", *stac_pair, "-o", tmp_path, "--scheduler", cluster, "--method", "otsu")
    assert code == 0 and "1 scenes: 0 complete from an earlier run, 1 to map" in stderr
    record = json.loads((tmp_path / "jja10_water.json").read_text())
    assert [Path(i["path"]).name for i in record["inputs"]] == ["jja10_vv.tif", "jja10_vh.tif"]


def test_the_local_cluster_maps_the_largest_scene_first(capsys, scenes, tmp_path):
    big = tmp_path / "big.tif"
    gdal.Warp(str(big), str(scenes["c"]), width=600, height=600, resampleAlg="bilinear")
    code, _, stderr = run_cli(capsys, "batch", scenes["c"], scenes["a"], big, "-o", tmp_path, "--workers", "1",
                              "--method", "otsu")
    assert code == 0 and "Dask: a local cluster of 1 worker process\n" in stderr
    done = [line.split(":")[0] for line in stderr.splitlines() if line.startswith("done ")]
    assert done == ["done big", "done S1A_20190101_a", "done S1A_20190103_c"]


def test_ctrl_c_stops_the_cluster_work_leaves_no_partial_output_and_a_rerun_resumes(scenes, tmp_path):
    inputs = []
    for i in range(3):  # scenes big enough to be stopped in the middle, int8 on a quiet CPU too: 16x the chip
        inputs.append(tmp_path / f"big{i}.tif")
        gdal.Warp(str(inputs[-1]), str(scenes["b"]), width=1280, height=1280, resampleAlg="bilinear")
    outdir = tmp_path / "masks"
    outdir.mkdir()
    argv = [str(BIN / "floodsar"), "batch", *map(str, inputs), "-o", str(outdir), "--workers", "2"]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=as_from_a_terminal)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("Dask:"):
            time.sleep(1.0)
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
            break
    lines += process.stderr.readlines()
    assert process.wait(timeout=60) == 130, "".join(lines)
    # a SIGINT that lands while the cluster is still starting is reported by the generic handler
    assert "floodsar: interrupted; " in lines[-1], "".join(lines)
    left = sorted(p.name for p in outdir.iterdir())
    assert not [name for name in left if name.startswith(".")], left  # no partial output
    masks = {name.removesuffix(".tif") for name in left if name.endswith(".tif")}
    assert masks == {name.removesuffix(".json") for name in left if name.endswith(".json")}
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(masks)} complete from an earlier run, {3 - len(masks)} to map" in rerun.stderr
    assert len(list(outdir.glob("*_water.tif"))) == 3


def test_event_benchmark_reports_scenes_per_minute(capsys, tmp_path):
    from floodsar.engine.benchmark.event import main as benchmark

    assert benchmark(["--workers", "1", "--scenes", "2", "--size", "256", "--method", "otsu",
                      "--json", str(tmp_path / "bench.json")]) == 0
    table = capsys.readouterr().out
    assert "2 scenes of 256 x 256 px, --method otsu" in table and "| 1 | " in table
    run = json.loads((tmp_path / "bench.json").read_text())["runs"][0]
    assert run["workers"] == 1 and run["scenes"] == 2 and run["scenes_per_minute"] > 0


@pytest.fixture(scope="module")
def flood_layers(scenes, repo_root, real_data, tmp_path_factory) -> dict[str, Path]:
    """A pre-flood pool (an older image over the west of the chip, a newer one over the east warped to UTM,
    one far away), reference water from the chip's real hand label, and a scene far from every pre image."""
    folder = tmp_path_factory.mktemp("flood_layers")
    sample = str(repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif")
    paths = {"old": folder / "S1A_20181220_west.tif", "new": folder / "S1A_20181225_east.tif",
             "elsewhere": folder / "S1A_20181230_elsewhere.tif", "far": folder / "S1A_20190107_far.tif",
             "reference": folder / "reference_water.tif"}
    gdal.Translate(str(paths["old"]), sample, srcWin=[0, 0, 300, 512])
    east = gdal.Translate("/vsimem/east.tif", sample, srcWin=[200, 0, 312, 512])
    gdal.Warp(str(paths["new"]), east, dstSRS="EPSG:32630", resampleAlg="bilinear")
    east = None
    gdal.Unlink("/vsimem/east.tif")
    x0, dx, _, y0, _, dy = gdal.Open(str(scenes["a"])).GetGeoTransform()
    for name, east, north in (("elsewhere", 0, 5), ("far", 5, 0)):  # degrees away: each overlaps nothing
        gdal.Translate(str(paths[name]), sample, srcWin=[0, 0, 320, 320])
        gdal.Open(str(paths[name]), gdal.GA_Update).SetGeoTransform((x0 + east, dx, 0, y0 + north, 0, dy))
    label = gdal.Open(str(real_data / "sen1floods11" / "LabelHand" / "Spain_7370579_LabelHand.tif"))
    gdal.Translate(str(paths["reference"]), label, outputType=gdal.GDT_Byte)
    ref = gdal.Open(str(paths["reference"]), gdal.GA_Update)
    ref.GetRasterBand(1).WriteArray((label.ReadAsArray() == 1).astype(np.uint8))
    ref = None
    return paths


def test_batch_with_a_pre_flood_pool_and_reference_water_maps_flood_classes_per_scene(
        capsys, cluster, scenes, flood_layers, tmp_path, monkeypatch):
    layers = flood_layers
    outdir = tmp_path / "classes"
    outdir.mkdir()
    monkeypatch.chdir(layers["reference"].parent)  # relative paths: the workers run in another folder
    argv = ["batch", scenes["a"], scenes["b"], layers["far"], "-o", outdir, "--scheduler", cluster,
            "--method", "otsu", "--pre", layers["elsewhere"], layers["new"].name, layers["old"].name,
            "--reference-water", layers["reference"].name, "--mosaic", tmp_path / "event.tif",
            "--report", tmp_path / "event.json", "--scene-reports"]
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 1, stderr
    assert "Event areas (overlaps counted once): flood " in stdout and ", reference water " in stdout
    assert "3 scenes: 0 complete from an earlier run, 2 to map, 1 failed before mapping" in stderr
    assert f"failed S1A_20190107_far: no --pre image overlaps {layers['far']}; add a pre-flood image" in stderr
    # a lies under both pool images: they are stacked on its grid, the newer (east, in UTM) on top
    stack = read(outdir / "S1A_20190101_a_pre" / "pre.vrt")
    chip = read(scenes["a"])
    assert np.array_equal(stack[:, :, :190], chip[:, :, :190])  # the older image alone: its pixels unchanged
    assert not np.allclose(stack[:, :, 210:290], chip[:, :, 210:290])  # the newer one, resampled twice, on top
    assert not np.isnan(stack).any()
    record = json.loads((outdir / "S1A_20190101_a_water.json").read_text())
    assert [Path(i["path"]).name for i in record["inputs"]] == [
        "S1A_20190101_a.tif", "S1A_20181220_west.tif", "S1A_20181225_east.tif", "reference_water.tif"]
    classes = read(outdir / "S1A_20190101_a_water.tif")
    reference = read(layers["reference"])[:320, :320] == 1
    assert set(np.unique(classes)) <= {0, 1, 2, 255}
    assert np.all(classes[reference & (classes != 255)] == 2)  # the label's water is reference water
    valid = classes != 255
    assert np.mean(classes[valid] == 1) < 0.02  # the same scene before and after: (almost) no flood
    report = json.loads((outdir / "S1A_20190101_a_report.json").read_text())
    assert report["classes"]["reference water"]["area_km2"] > 0 and report["pre_missing"]["share_of_valid"] == 0
    event = json.loads((tmp_path / "event.json").read_text())
    assert event["event"]["mosaic_rule"] == "latest scene with data decides"
    assert event["event"]["areas_km2"]["reference_water_km2"] > 0 and event["event"]["areas_km2"]["overlap_km2"] > 0
    assert [Path(p).name for p in event["scenes"][0]["pre_flood"]] == ["S1A_20181220_west.tif",
                                                                      "S1A_20181225_east.tif"]
    assert set(np.unique(read(tmp_path / "event.tif"))) <= {0, 1, 2, 255}
    # a rerun skips both mapped scenes; a changed layer redoes them
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 1 and "3 scenes: 2 complete from an earlier run, 0 to map, 1 failed before mapping" in stderr
    os.utime(layers["reference"], ns=(time.time_ns(), time.time_ns()))
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 1 and "0 complete from an earlier run, 2 to map" in stderr


def test_class_maps_are_mosaicked_latest_scene_first_and_counted_once(scenes, tmp_path):
    """Three class maps on the real scenes' grids: the later date wins where it has data, an undated map
    lies below every dated one, and the event's areas count the overlap once."""
    from floodsar.engine.event.mosaic import build_mosaic

    maps = {}
    for name, scene, value in (("old", "a", 1), ("new", "b", 2), ("undated", "b", 3)):
        maps[name] = tmp_path / f"{name}.tif"
        gdal.Translate(str(maps[name]), str(scenes[scene]), bandList=[1], outputType=gdal.GDT_Byte, noData=255)
        classes = np.full((320, 320), value, np.uint8)
        if name == "new":
            classes[:64, :64] = 255  # no data in the corner of the overlap: the older map shows there
        dataset = gdal.Open(str(maps[name]), gdal.GA_Update)
        dataset.GetRasterBand(1).WriteArray(classes)
        dataset = None
    areas = build_mosaic(["new", "old", "undated"], [maps["new"], maps["old"], maps["undated"]],
                         ["2019-01-05", "2019-01-01", None], True, tmp_path / "event.vrt", tmp_path / "event.tif")
    event = read(tmp_path / "event.tif")
    assert event.shape == (512, 512)  # a and b on the chip's grid: a at (0, 0), b at (192, 192)
    assert np.all(event[:192, :192] == 1) and np.all(event[192:256, 192:256] == 1)  # a alone; b's nodata corner
    assert np.all(event[256:, 256:] == 2) and np.all(event[192:320, 256:320] == 2)  # b, newer than a and undated
    assert np.all(event[:192, 320:] == 255)  # nobody
    pixel = areas.scenes[1].valid / 320 ** 2
    assert areas.event.as_dict()["flood_km2"] == pytest.approx(pixel * (320 ** 2 - 128 ** 2 + 64 ** 2), rel=1e-3)
    assert areas.event.valid == pytest.approx(pixel * (2 * 320 ** 2 - 128 ** 2), rel=1e-3)
    assert set(areas.event.as_dict()) == {"dry_km2", "flood_km2", "reference_water_km2", "excluded_km2",
                                          "valid_km2"}


def _kill_when_a_scene_is_being_written(outdir: Path, pid: int) -> threading.Thread:
    """A thread that kills ``pid`` (SIGKILL: no handler runs) once a scene's temporary files appear."""
    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(path.name.endswith(".partial") for path in outdir.iterdir()):
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["retried", "reported"])
def test_a_worker_killed_mid_scene_leaves_no_partial_output_and_the_scene_is_retried_or_reported(
        capsys, scenes, tmp_path, allowed_failures):
    """kill -9 of the worker process mapping a scene: Dask's nanny starts a new one and Dask maps the scene
    again, or, on a cluster that allows no retry, the scene is reported as failed; either way no hidden
    temporary file is left, and a rerun completes the event."""
    import dask

    inputs = []
    for i in range(2):  # the real chip at 4x the pixel count: the bundled model takes a while on each
        inputs.append(tmp_path / f"big{i}.tif")
        gdal.Warp(str(inputs[-1]), str(scenes["b"]), width=640, height=640, resampleAlg="bilinear")
    outdir = tmp_path / "masks"
    outdir.mkdir()
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0", silence_logs=logging.CRITICAL) as local, Client(local) as client:
        (pid,) = client.run(os.getpid).values()
        killer = _kill_when_a_scene_is_being_written(outdir, pid)
        code, stdout, stderr = run_cli(capsys, "batch", *inputs, "-o", outdir, "--scheduler", local.scheduler_address)
        killer.join()
        assert pid not in client.run(os.getpid).values()  # the worker was killed (and replaced)
    assert not [path.name for path in outdir.iterdir() if path.name.startswith(".")]  # no partial output
    if allowed_failures:
        assert code == 0 and "Scenes: 2 (2 done)" in stdout, stderr
    else:  # both scenes were on the one worker (one mapping, one queued): both are reported
        assert code == 1 and "Scenes: 2 (2 failed)" in stdout, stderr
        assert stderr.count("the Dask worker it was given to died (killed, or out of memory?)") == 2
    code, _, stderr = run_cli(capsys, "batch", *inputs, "-o", outdir, "--workers", "1")
    assert code == 0 and f"{2 if allowed_failures else 0} complete from an earlier run" in stderr, stderr
    assert sorted(path.name for path in outdir.iterdir()) == sorted(
        f"big{i}_water.{ext}" for i in range(2) for ext in ("tif", "json"))


def test_a_pre_flood_pool_of_vv_vh_pairs_is_stacked_per_polarisation_and_mixed_forms_are_refused(
        capsys, cluster, scenes, repo_root, tmp_path):
    sample = str(repo_root / "resources" / "sample" / "Spain_7370579_S1Hand.tif")
    pool = tmp_path / "pool"
    pool.mkdir()
    for name, window, epsg in (("S1A_20181220_west", [0, 0, 300, 512], None),
                               ("S1A_20181225_east", [200, 0, 312, 512], 32630)):
        for band, polarisation in ((1, "vv"), (2, "vh")):
            path = str(pool / f"{name}_{polarisation}.tif")
            cut = gdal.Translate("/vsimem/cut.tif" if epsg else path, sample, srcWin=window, bandList=[band])
            if epsg:
                gdal.Warp(path, cut, dstSRS=f"EPSG:{epsg}", resampleAlg="bilinear")
            cut = None
    gdal.Unlink("/vsimem/cut.tif")
    gdal.Translate(str(pool / "S1A_20181201_south.tif"), sample, srcWin=[0, 400, 100, 112])  # both bands
    outdir = tmp_path / "masks"
    outdir.mkdir()
    code, _, stderr = run_cli(capsys, "batch", scenes["a"], scenes["c"], "-o", outdir, "--scheduler", cluster,
                              "--method", "otsu", "--pre", pool / "*.tif")
    assert code == 1 and "done S1A_20190101_a" in stderr, stderr
    assert ("failed S1A_20190103_c: the --pre images overlapping it differ in form (S1A_20181201_south.tif: "
            "1 file(s) of 2 band(s); S1A_20181220_west_vv.tif: 2 file(s) of 1/1 band(s); ") in stderr, stderr
    stacked = outdir / "S1A_20190101_a_pre"
    assert sorted(p.name for p in stacked.glob("pre_*.vrt")) == ["pre_vh.vrt", "pre_vv.vrt"]
    chip = read(scenes["a"])
    for band, polarisation in enumerate(("vv", "vh")):
        assert np.array_equal(read(stacked / f"pre_{polarisation}.vrt")[:, :190], chip[band, :, :190])
    record = json.loads((outdir / "S1A_20190101_a_water.json").read_text())
    assert [Path(i["path"]).name for i in record["inputs"]][1:] == [
        "S1A_20181220_west_vv.tif", "S1A_20181220_west_vh.tif", "S1A_20181225_east_vv.tif",
        "S1A_20181225_east_vh.tif"]
