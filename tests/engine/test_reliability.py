"""Fault injection: hostile model files, a full disk, signals, corrupt and odd inputs, memory bounds.

Each test reproduces one way a careless or hostile user broke FloodSAR (issue 12) and checks
the promise README's "What FloodSAR promises" makes: a model file never runs code, a failed
run leaves no output, every bad input gives one line, memory depends on tile and batch only.
The faults are real: a crafted pickle inside a real ``.pt2``, a real file-size limit
(RLIMIT_FSIZE) on a real ``floodsar`` process, real signals, real truncated GeoTIFFs.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from floodsar.engine import model_trust
from floodsar.engine.errors import FloodSarError
from floodsar.engine.io_choice import choose_io
from floodsar.engine.models import DEFAULT_MODEL, load_model

from helpers.hostile_files import hostile_pt2
from helpers.models import model_metadata, onnx_model, save_onnx
from helpers.rasters import read_band, write_geotiff
from helpers.signals import as_from_a_terminal

FLOODSAR = [sys.executable, "-m", "floodsar.engine.cli"]


def run_floodsar(*argv, file_size_limit: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the floodsar command in a fresh process; ``file_size_limit`` (bytes) = RLIMIT_FSIZE (a full disk)."""
    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run([*FLOODSAR, *(str(a) for a in argv)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single ``floodsar: error:`` line of a failed run (asserts there is nothing else)."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("floodsar: error: "), done.stderr
    return lines[0]


# --- 1. a model file never runs code ---------------------------------------------------------------------------

@pytest.fixture
def hostile_model(conv_model, tmp_path) -> tuple[Path, Path]:
    """(evil.pt2, the marker file it would create), with the twin evil.onnx beside it."""
    marker = tmp_path / "code_ran"
    evil = hostile_pt2(conv_model.with_suffix(".pt2"), tmp_path / "evil.pt2", marker)
    save_onnx(onnx_model("conv3x3", model_metadata()), tmp_path / "evil.onnx")
    return evil, marker


def test_the_hostile_model_does_run_code_when_trusted(hostile_model):
    """The fixture is a real exploit: a user who trusts the file gets what they asked for."""
    evil, marker = hostile_model
    with pytest.raises(FloodSarError):
        load_model(evil, "torch", "cpu", trusted_by_user=True)
    assert marker.exists()


@pytest.mark.parametrize("model_argument", ["evil.pt2", "evil.onnx"])
def test_a_hostile_pt2_is_never_opened(hostile_model, chips, tmp_path, model_argument):
    """Neither ``--model evil.pt2`` nor ``--model evil.onnx --backend torch`` (its .pt2 twin) runs its code."""
    evil, marker = hostile_model
    done = run_floodsar("predict", chips["spain"], "-o", tmp_path / "m.tif", "--backend", "torch",
                        "--model", tmp_path / model_argument)
    line = one_error_line(done)
    assert "evil.pt2" in line and "--trust-model" in line and "onnx" in line
    assert not marker.exists() and not (tmp_path / "m.tif").exists()


def test_the_bundled_pt2_is_trusted_by_its_recorded_checksum():
    """The bundled .pt2 opens without --trust-model: SHA256SUMS lists it (update it when re-exporting)."""
    bundled = DEFAULT_MODEL.with_suffix(".pt2")
    digest = __import__("hashlib").sha256(bundled.read_bytes()).hexdigest()
    assert digest in model_trust.trusted_checksums(), (
        f"resources/models/SHA256SUMS does not list {bundled.name}; after exporting a new bundled model run: "
        "cd resources/models && sha256sum floodsar_s1.pt2 > SHA256SUMS")
    assert load_model(None, "torch", "cpu").path == bundled


def test_a_pt2_changed_by_one_byte_is_no_longer_trusted(tmp_path):
    copy = tmp_path / "floodsar_s1.pt2"
    data = bytearray(DEFAULT_MODEL.with_suffix(".pt2").read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(FloodSarError, match="not opened"):
        model_trust.read_pt2(copy, trusted_by_user=False)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/hostname"])
def test_onnx_external_weights_outside_the_model_folder_are_refused(tmp_path, location):
    """ONNX files are data, but their weights may name another file: ONNX Runtime must not read outside."""
    from onnx import TensorProto

    folder = tmp_path / "model"
    folder.mkdir()
    np.full(18, 0.5, np.float32).tofile(tmp_path / "outside.bin")
    model = onnx_model("conv3x3", model_metadata())
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "72")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "external.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(FloodSarError, match="not a usable ONNX model"):
        load_model(path, "onnx", "cpu")


# --- 2. a full disk fails the run and leaves nothing --------------------------------------------------------------

#: File-size limits (KiB) that stop a run at each stage: the first blocks, the file's directory,
#: the overviews, the probability raster (the Spain chip's mask is about 28 KiB).
FULL_DISK_CASES = {
    "first blocks": (1, []),
    "directory": (6, []),
    "overviews": (20, []),
    "probabilities": (40, ["--probabilities", "p.tif"]),
    "polygons after the mask": (60, ["--vector", "w.gpkg", "--min-area", "500"]),  # the mask alone fits
}


@pytest.mark.parametrize("case", FULL_DISK_CASES)
def test_a_full_disk_fails_the_run_and_leaves_nothing(chips, pointwise_model, tmp_path, case):
    """RLIMIT_FSIZE stops every write past the limit, as a full disk does; the run must fail, not exit 0."""
    kib, extra = FULL_DISK_CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    argv = ["predict", chips["spain"], "-o", out / "m.tif", "--model", pointwise_model,
            *(out / a if a.endswith((".tif", ".gpkg")) else a for a in extra)]
    done = run_floodsar(*argv, file_size_limit=kib * 1024)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()  # nothing else, not even libtiff's own complaint
    assert line.startswith("floodsar: error: ") and "disk space" in line, done.stderr
    assert list(out.iterdir()) == []
    assert run_floodsar(*argv).returncode == 0  # without the limit the same run works


def test_a_full_disk_fails_cleanly_through_qgis_gdal_too(chips, tmp_path):
    """The osgeo.gdal writer (QGIS) under the same limit: one FloodSarError, nothing left."""
    out = tmp_path / "out"
    out.mkdir()
    script = ("import sys\nfrom floodsar.engine.errors import FloodSarError\n"
              "from floodsar.engine.gdal_io import GdalIO\n"
              "from floodsar.engine.pipeline import PredictionRequest, predict\n"
              f"request = PredictionRequest([{str(chips['spain'])!r}], {str(out / 'm.tif')!r}, method='otsu', "
              "io=GdalIO())\n"
              "try:\n    predict(request)\nexcept FloodSarError as exc:\n    print('ERROR', exc)\n    sys.exit(1)\n")
    for kib in (1, 6, 20):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024,) * 2))
        assert done.returncode == 1 and "Traceback" not in done.stderr, (kib, done.stderr)
        assert done.stdout.startswith("ERROR ") and list(out.iterdir()) == [], kib


# --- 2 and 7. interruptions: signals, and Ctrl-C while sieving or polygonising ----------------------------------

@pytest.fixture(scope="module")
def big_scene(tmp_path_factory) -> Path:
    """A 2,000 x 2,000 px two-band dB raster: a run on 32 px tiles lasts long enough to be interrupted."""
    rng = np.random.default_rng(0)
    return write_geotiff(tmp_path_factory.mktemp("big") / "big.tif",
                         rng.normal(-15, 4, size=(2, 2000, 2000)).astype(np.float32))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_run_cancels_cleanly(big_scene, pointwise_model, tmp_path, signum):
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([*FLOODSAR, "predict", str(big_scene), "-o", str(out / "m.tif"),
                                "--model", str(pointwise_model), "--tile", "32", "--overlap", "0",
                                "--probabilities", str(out / "p.tif"), "--min-area", "300"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_from_a_terminal)
    deadline = time.monotonic() + 60
    while not any(out.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the temporary outputs exist: the run is under way
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
    assert stderr.strip().splitlines()[-1] == f"floodsar: interrupted{by}; no output was written."
    assert "Traceback" not in stderr and list(out.iterdir()) == []


# --- 3. one clear line, no traceback ------------------------------------------------------------------------------

def damaged(chip: Path, path: Path, how: str) -> Path:
    data = bytearray(chip.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 5]
    else:  # the pixel blocks overwritten with garbage, the header intact
        data[len(data) // 3:] = bytes(np.random.default_rng(1).integers(0, 256, len(data) - len(data) // 3,
                                                                         dtype=np.uint8))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["truncated", "garbage blocks"])
@pytest.mark.parametrize("io", ["rasterio", "gdal"])
def test_a_damaged_geotiff_gives_one_line(chips, tmp_path, how, io):
    from floodsar.engine.pipeline import PredictionRequest, predict

    bad = damaged(chips["spain"], tmp_path / "bad.tif", how)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FloodSarError) as error:
        predict(PredictionRequest([bad], out / "m.tif", method="otsu", io=choose_io(io)))
    message = str(error.value)
    assert message.startswith(str(bad)) and "truncated or corrupt" in message and "\n" not in message
    assert list(out.iterdir()) == []


def test_a_truncated_geotiff_gives_one_line_on_the_command_line(chips, pointwise_model, tmp_path):
    bad = damaged(chips["spain"], tmp_path / "bad.tif", "truncated")
    done = run_floodsar("predict", bad, "-o", tmp_path / "m.tif", "--model", pointwise_model)
    assert "bad.tif" in one_error_line(done) and not (tmp_path / "m.tif").exists()


@pytest.mark.parametrize("value, named", [("inf", "--min-area"), ("nan", "--min-area"), ("-5", "--min-area"),
                                          ("1e12", "more than half the raster"),
                                          ("2e7", "more than half the raster"),
                                          ("1e6", "limit of 512 pixels")])
def test_an_impossible_min_area_gives_one_line_and_no_mask(chips, tmp_path, value, named):
    """2e7 m2 is 250,000 pixels of 8.9 m on a 262,144 px chip: GDAL's sieve would silently change nothing."""
    done = run_floodsar("predict", chips["spain"], "-o", tmp_path / "m.tif", "--method", "otsu",
                        f"--min-area={value}")
    assert named in one_error_line(done)
    assert list(tmp_path.iterdir()) == []


def test_a_min_area_within_the_limits_is_applied(chips, tmp_path):
    from floodsar.engine.pipeline import PredictionRequest, predict

    plain = predict(PredictionRequest([chips["spain"]], tmp_path / "plain.tif", method="otsu"))
    sieved = predict(PredictionRequest([chips["spain"]], tmp_path / "sieved.tif", method="otsu",
                                       min_area_m2=4e4))  # about 505 pixels of 8.9 m
    assert sieved.water_area_km2 != plain.water_area_km2
    assert np.count_nonzero(read_band(sieved.output) == 1) * 1e-6 * 8.9 ** 2 == pytest.approx(
        sieved.water_area_km2, rel=0.02)


def model_with(tmp_path: Path, filename: str, **fields) -> Path:
    """pointwise.onnx with hand-written metadata fields (bypassing the writer's validation)."""
    from floodsar.engine.metadata import METADATA_KEY

    model = onnx_model("pointwise", None)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({**json.loads(model_metadata().to_json()), **fields})
    return save_onnx(model, tmp_path / filename)


@pytest.mark.parametrize("provenance", ["a string", {"failure_modes": 5}, {"failure_modes": [1, None]}])
def test_info_with_malformed_provenance_gives_one_line(chips, tmp_path, provenance):
    model = model_with(tmp_path, "odd.onnx", provenance=provenance)
    done = run_floodsar("info", chips["spain"], "--model", model)
    assert "odd.onnx" in one_error_line(done) and "provenance" in done.stderr


def test_model_text_is_printed_without_terminal_control_characters(chips, tmp_path):
    model = model_with(tmp_path, "escape.onnx", name="\x1b]0;owned\x07evil\x1b[2J", licence="MIT\u202e",
                       training_data="data\x9b31m", provenance={"failure_modes": ["\x1b[31mred"]})
    done = run_floodsar("info", chips["spain"], "--model", model)
    assert done.returncode == 0, done.stderr
    assert "Model: ]0;ownedevil[2J" in done.stdout and "Known failure mode: [31mred" in done.stdout
    assert not any(c in done.stdout for c in "\x1b\x07\x9b\u202e")


def test_info_into_a_closed_pipe_exits_quietly(chips, pointwise_model):
    """`floodsar info X | head -1`: the reader is gone before floodsar writes; no BrokenPipeError traceback."""
    process = subprocess.Popen([*FLOODSAR, "info", str(chips["spain"]), "--model", str(pointwise_model)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like head -1 after its line, but certain: nothing can be written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and stderr == ""


# --- 4. temporary files cannot be hijacked ------------------------------------------------------------------------

def test_a_planted_symlink_cannot_redirect_the_output(chips, tmp_path):
    """The final name is a link to another file: it is replaced, the other file is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "m.tif").symlink_to(victim)
    done = run_floodsar("predict", chips["spain"], "-o", tmp_path / "m.tif", "--method", "otsu", "--overwrite")
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "m.tif").is_symlink() and (tmp_path / "m.tif").stat().st_size > 1000


def test_temporary_outputs_live_in_a_private_folder(tmp_path):
    from floodsar.engine.safe_write import StagedOutputs

    with StagedOutputs() as staged:
        tmp = staged.temporary(tmp_path / "m.tif")
        assert tmp.parent.parent == tmp_path and (tmp.parent.stat().st_mode & 0o777) == 0o700
        assert not tmp.exists()  # the writer creates it, inside a folder nobody else can write to
        tmp.write_bytes(b"done")
    assert (tmp_path / "m.tif").read_bytes() == b"done" and sorted(tmp_path.iterdir()) == [tmp_path / "m.tif"]


def test_an_interrupt_just_after_the_private_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    """A signal can land between any two steps: here right after the folder exists (seen as a leftover
    .partial folder when SIGHUP reached a real run at that moment)."""
    from floodsar.engine.safe_write import StagedOutputs

    make_folder = os.mkdir

    def interrupted(path, mode=0o777, **kwargs):
        make_folder(path, mode, **kwargs)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with StagedOutputs() as staged:
            monkeypatch.setattr(os, "mkdir", interrupted)
            staged.temporary(tmp_path / "m.tif")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


# --- 5. complex (SLC) input is refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("io", ["rasterio", "gdal"])
def test_complex_input_is_refused_with_what_to_use(tmp_path, io):
    from osgeo import gdal, osr

    from floodsar.engine.pipeline import PredictionRequest, predict

    path = tmp_path / "slc.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 64, 64, 2, gdal.GDT_CFloat32)
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    values = (np.random.default_rng(0).normal(size=(64, 64)) + 1j).astype(np.complex64)
    for band in (1, 2):
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    with pytest.raises(FloodSarError, match="complex values.*detected GRD product or calibrated intensity"):
        predict(PredictionRequest([path], tmp_path / "m.tif", method="otsu", io=choose_io(io)))
    assert not (tmp_path / "m.tif").exists()


# --- 6. memory depends on tile and batch only -----------------------------------------------------------------------

@pytest.mark.parametrize("option, value, named", [("--tile", "4096", "limit of 2048"),
                                                  ("--batch", "65", "limit of 64"),
                                                  ("--overlap", "255", "more than a quarter")])
def test_options_that_would_need_unbounded_memory_or_time_are_refused(chips, pointwise_model, tmp_path, option,
                                                                      value, named):
    done = run_floodsar("predict", chips["spain"], "-o", tmp_path / "m.tif", "--model", pointwise_model,
                        option, value, *(["--tile", "512"] if option == "--overlap" else []))
    assert named in one_error_line(done) and list(tmp_path.iterdir()) == []


def test_a_model_declaring_a_huge_tile_is_refused(chips, tmp_path):
    model = model_with(tmp_path, "huge.onnx", tile_size=16384, overlap=64)
    done = run_floodsar("predict", chips["spain"], "-o", tmp_path / "m.tif", "--model", model)
    assert "huge.onnx" in one_error_line(done) and "2048" in done.stderr
    assert not (tmp_path / "m.tif").exists()


def test_a_batch_larger_than_the_tiles_is_not_padded(chips, pointwise_model, monkeypatch, tmp_path):
    """--batch 64 on the 4 tiles of a chip runs the model on 4 tiles, not 64."""
    from floodsar.engine import models
    from floodsar.engine.pipeline import PredictionRequest, predict

    shapes = []
    real = models.Model.predict
    monkeypatch.setattr(models.Model, "predict", lambda self, batch: shapes.append(batch.shape) or real(self, batch))
    predict(PredictionRequest([chips["spain"]], tmp_path / "m.tif", model=pointwise_model, tile=256, overlap=0,
                              batch=64))
    assert [shape[0] for shape in shapes] == [4]


# --- 8. amplitude input ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linear_chips(chips, tmp_path_factory) -> dict[str, Path]:
    """The Spain chip (dB) as linear power and as linear amplitude."""
    from osgeo import gdal

    db = gdal.Open(str(chips["spain"])).ReadAsArray().astype(np.float64)
    folder = tmp_path_factory.mktemp("units")
    return {units: write_geotiff(folder / f"spain_{units}.tif",
                                 np.where(np.isnan(db), np.nan, 10 ** (db / divisor)).astype(np.float32),
                                 transform=gdal.Open(str(chips["spain"])).GetGeoTransform(), epsg=4326)
            for units, divisor in (("power", 10), ("amplitude", 20))}


def test_amplitude_read_as_power_is_warned_about_and_units_amplitude_reads_it_right(chips, linear_chips, tmp_path):
    from floodsar.engine.cli import CLI_WORDING
    from floodsar.engine.pipeline import PredictionRequest, predict

    reference = predict(PredictionRequest([chips["spain"]], tmp_path / "db.tif", method="otsu"))
    power = predict(PredictionRequest([linear_chips["power"]], tmp_path / "power.tif", method="otsu"))
    assert not any("amplitude" in w for w in power.warnings)
    as_power = predict(PredictionRequest([linear_chips["amplitude"]], tmp_path / "guess.tif", method="otsu",
                                         report=tmp_path / "guess.json"))
    worded = [CLI_WORDING.fill(w) for w in as_power.warnings]  # warnings name options as {units=...}
    assert any("look like amplitude" in w and "--units amplitude" in w for w in worded)
    reported = json.loads((tmp_path / "guess.json").read_text())["warnings"]  # a file: plain words
    assert any("pass units amplitude" in w for w in reported) and not any("{" in w for w in reported)
    amplitude = predict(PredictionRequest([linear_chips["amplitude"]], tmp_path / "amp.tif", method="otsu",
                                          units="amplitude"))
    assert amplitude.water_area_km2 == pytest.approx(reference.water_area_km2, rel=1e-3)
    assert power.water_area_km2 == pytest.approx(reference.water_area_km2, rel=1e-3)


def test_gdal_virtual_paths_pass_the_input_checks(chips, tmp_path):
    """/vsizip/ (and /vsicurl/...) paths go to GDAL as written, not to a local "file not found"."""
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(chips["spain"], "S1/spain.tif")
    done = run_floodsar("predict", f"/vsizip/{archive}/S1/spain.tif", "-o", tmp_path / "m.tif", "--method", "otsu")
    assert done.returncode == 0, done.stderr
    missing = run_floodsar("predict", f"/vsizip/{archive}/S1/none.tif", "-o", tmp_path / "n.tif", "--method", "otsu")
    assert "not a raster GDAL can read" in one_error_line(missing)
