"""The floodsar command: summaries, info, one-line errors for every bad input, Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from floodsar.engine.cli import main
from helpers.rasters import unwritable_folder, write_geotiff
from helpers.signals import as_from_a_terminal

CONSOLE_SCRIPT = Path(sys.executable).parent / "floodsar"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_prints_a_summary(capsys, chips, pointwise_model, tmp_path):
    out = tmp_path / "mask.tif"
    code, stdout, stderr = run_cli(capsys, "predict", chips["jja10_vv"], chips["jja10_vh"], "-o", out,
                                   "--model", pointwise_model, "--vector", tmp_path / "w.gpkg", "--batch", "2")
    assert code == 0 and out.is_file() and (tmp_path / "w.gpkg").is_file()
    assert f"Water mask: {out}" in stdout and "Water polygons:" in stdout
    assert "Water area:" in stdout and "km2" in stdout and "Valid area: 26.214 km2" in stdout
    assert "Backend: pointwise (pointwise.onnx) on onnxruntime" in stdout and "CPUExecutionProvider" in stdout
    assert "Time:" in stdout and stderr == ""


def test_predict_otsu_warns_on_a_dry_scene(capsys, chips, tmp_path):
    code, stdout, stderr = run_cli(capsys, "predict", chips["ghana_dry"], "-o", tmp_path / "m.tif", "--method", "otsu")
    assert code == 0 and "Otsu threshold -24.00 dB" in stdout
    assert stderr.startswith("floodsar: warning: No part of the scene shows clearly bimodal")


def test_info_describes_the_input(capsys, chips, pointwise_model):
    code, stdout, _ = run_cli(capsys, "info", chips["spain"], "--model", pointwise_model)
    assert code == 0
    for text in ("VV: Spain_7370579_S1Hand.tif band 1", "VH: Spain_7370579_S1Hand.tif band 2", "Units: dB",
                 "Size: 512 x 512 pixels", "CRS: WGS 84", "Pixel size: about", "Model: pointwise"):
        assert text in stdout


def test_info_shows_the_bundled_model_card(capsys, chips, repo_root):
    code, stdout, _ = run_cli(capsys, "info", chips["spain"], "--model",
                              repo_root / "resources" / "models" / "floodsar_s1.onnx")
    assert code == 0
    assert "Model: floodsar-bundled" in stdout and "Trained on: Generated chips only" in stdout
    assert "Licence: GPL-2.0-or-later" in stdout and "Known failure mode: Mountain shadow" in stdout


def bad_inputs(chips, bad_models, pointwise_model, tmp_path) -> dict[str, tuple[list, str]]:
    """Each case: (command-line arguments after 'predict', text the message must name)."""
    text = tmp_path / "notes.tif"
    text.write_text("not a raster\n")
    spain = gdal.Open(str(chips["spain"])).ReadAsArray()
    nocrs = write_geotiff(tmp_path / "nocrs.tif", spain, epsg=None)
    vv_only = write_geotiff(tmp_path / "vv_only.tif", spain[0], descriptions=("VV",))  # real VV, no VH
    out = tmp_path / "out" / "mask.tif"
    model = ["--model", pointwise_model]
    return {
        "missing file": ([tmp_path / "missing.tif", "-o", out, *model], "missing.tif"),
        "not a raster": ([text, "-o", out, *model], "notes.tif"),
        "wrong band count": ([chips["spain_label"], "-o", out, *model], "Spain_7370579_LabelHand.tif"),
        "VV only": ([vv_only, "-o", out, *model], "VV-only"),
        "no CRS": ([nocrs, "-o", out, *model], "nocrs.tif"),
        "unwritable output": ([chips["spain"], "-o", unwritable_folder(tmp_path) / "m.tif", *model], "m.tif"),
        "missing output folder": ([chips["spain"], "-o", tmp_path / "nowhere" / "m.tif", *model], "nowhere"),
        "corrupt model": ([chips["spain"], "-o", out, "--model", bad_models["corrupt"]], "corrupt.onnx"),
        "model without metadata": ([chips["spain"], "-o", out, "--model", bad_models["no_metadata"]],
                                   "no_metadata.onnx"),
        "all nodata": ([chips["paraguay_nan"], "-o", out, *model], "Paraguay_34417_S1Hand.tif"),
        "three inputs": ([chips["spain"], chips["spain"], chips["spain"], "-o", out, *model], "3 input files"),
        "bad band option": ([chips["spain"], "-o", out, "--vv-band", "5", *model], "--vv-band 5"),
        "torch without pt2": ([chips["spain"], "-o", out, "--backend", "torch", *model], "pointwise.pt2"),
    }


CASES = ["missing file", "not a raster", "wrong band count", "VV only", "no CRS", "unwritable output",
         "missing output folder", "corrupt model", "model without metadata", "all nodata", "three inputs",
         "bad band option", "torch without pt2"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_clear_line_and_no_output(capsys, chips, bad_models, pointwise_model, tmp_path, case):
    (tmp_path / "out").mkdir()
    argv, named = bad_inputs(chips, bad_models, pointwise_model, tmp_path)[case]
    code, stdout, stderr = run_cli(capsys, "predict", *argv)
    assert code == 1 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("floodsar: error: ") and named in stderr
    assert "Traceback" not in stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_malformed_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as done:
        main(["predict", "in.tif"])  # no -o
    assert done.value.code == 2 and "-o/--output" in capsys.readouterr().err


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the floodsar console script is not installed")
def test_console_script_reports_errors_in_one_line(chips, tmp_path):
    done = subprocess.run([str(CONSOLE_SCRIPT), "predict", str(chips["vv_only"]), "-o", str(tmp_path / "m.tif")],
                          capture_output=True, text=True, timeout=120)  # the model needs VV and VH
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and "VV-only" in done.stderr


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the floodsar console script is not installed")
def test_ctrl_c_exits_130_and_leaves_no_output(pointwise_model, tmp_path):
    rng = np.random.default_rng(0)
    big = write_geotiff(tmp_path / "big.tif", rng.normal(-15, 4, size=(2, 3000, 3000)).astype(np.float32))
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([str(CONSOLE_SCRIPT), "predict", str(big), "-o", str(out / "m.tif"),
                                "--model", str(pointwise_model), "--tile", "32", "--overlap", "0",
                                "--probabilities", str(out / "p.tif")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_from_a_terminal, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    deadline = time.monotonic() + 60
    while not any(out.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the temporary outputs exist: the run is under way
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # once, the reader waited for a lock forever (prefetch.Prefetcher): show where
        process.send_signal(signal.SIGABRT)  # faulthandler prints each thread's stack
        pytest.fail(f"no exit 60 s after Ctrl-C; its threads:\n{process.communicate(timeout=30)[1]}")
    assert process.returncode == 130 and "interrupted" in stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("delay_s", [0.2, 0.5])
def test_ctrl_c_while_the_libraries_load_gives_one_line_not_a_traceback(pointwise_model, tmp_path, delay_s):
    rng = np.random.default_rng(0)
    big = write_geotiff(tmp_path / "big.tif", rng.normal(-15, 4, size=(2, 3000, 3000)).astype(np.float32))
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([str(CONSOLE_SCRIPT), "predict", str(big), "-o", str(out / "m.tif"), "--model",
                                str(pointwise_model), "--tile", "32", "--overlap", "0"],  # seconds: not done by then
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_from_a_terminal)
    time.sleep(delay_s)  # while numpy, GDAL, rasterio and ONNX Runtime load (the first ~30 ms, Python's own start,
    # are out of reach: a Ctrl-C there ends Python before FloodSAR runs)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert (process.returncode, stderr) == (130, "floodsar: interrupted; no output was written.\n") \
        or (process.returncode, stderr) == (-signal.SIGINT, "")  # before Python set up its Ctrl-C handling
    assert list(out.iterdir()) == []


def test_ctrl_c_after_the_outputs_are_complete_says_so(monkeypatch, capsys, chips, pointwise_model, tmp_path):
    from floodsar.engine import cli

    def interrupted_on_stdout(text, stream=None):
        if stream is None:
            raise KeyboardInterrupt
        print(text, file=stream)
    monkeypatch.setattr(cli, "say", interrupted_on_stdout)
    output = tmp_path / "m.tif"
    assert main(["predict", str(chips["spain"]), "-o", str(output), "--model", str(pointwise_model)]) == 130
    assert capsys.readouterr().err == f"floodsar: interrupted; the outputs were already complete: {output}.\n"
    assert output.is_file()


def test_whatever_a_library_makes_of_ctrl_c_is_reported_as_an_interruption(monkeypatch, capsys, chips, tmp_path):
    from floodsar.engine import cli

    def interrupted_while_loading(request, progress=None):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:  # what ONNX Runtime makes of a Ctrl-C while it loads
            raise ImportError("initialization failed") from None
    monkeypatch.setattr(cli, "predict", interrupted_while_loading)
    assert main(["-q", "predict", str(chips["spain"]), "-o", str(tmp_path / "m.tif")]) == 130
    assert capsys.readouterr().err == "floodsar: interrupted; no output was written.\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back


def test_entry_point_turns_an_interrupted_import_into_exit_130(monkeypatch, capsys):
    from floodsar.engine import entry

    def interrupted(name):
        raise KeyboardInterrupt
    monkeypatch.setattr(entry.importlib, "import_module", interrupted)
    assert entry.floodsar_train() == 130
    assert capsys.readouterr().err == "floodsar-train: interrupted; no output was written.\n"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("floodsar 0.")


def test_quiet_and_verbose(capsys, chips, pointwise_model, tmp_path):
    code, stdout, stderr = run_cli(capsys, "predict", chips["spain"], "-o", tmp_path / "q.tif", "--model",
                                   pointwise_model, "-q")
    assert code == 0 and stdout == "" and stderr == "" and (tmp_path / "q.tif").is_file()
    code, stdout, stderr = run_cli(capsys, "-v", "predict", chips["spain"], "-o", tmp_path / "v.tif", "--model",
                                   pointwise_model)
    assert code == 0 and "Water mask:" in stdout
    assert "floodsar: input: Files: " in stderr and "floodsar: model pointwise" in stderr
    assert "tiles of 128 px" in stderr


def test_an_existing_output_is_refused_unless_overwrite(capsys, chips, tmp_path):
    out = tmp_path / "mask.tif"
    out.write_bytes(b"a previous result")
    code, stdout, stderr = run_cli(capsys, "predict", chips["spain"], "-o", out, "--method", "otsu")
    assert code == 1 and stdout == "" and out.read_bytes() == b"a previous result"
    assert stderr == (f"floodsar: error: {out}: -o/--output exists already; choose another name, or allow "
                      "--overwrite to replace it.\n")
    code, _, _ = run_cli(capsys, "predict", chips["spain"], "-o", out, "--method", "otsu", "--overwrite")
    assert code == 0 and gdal.Open(str(out)).RasterCount == 1


def test_errors_name_the_command_line_options(capsys, chips, tmp_path):
    spain = gdal.Open(str(chips["spain"])).ReadAsArray()
    three = write_geotiff(tmp_path / "three.tif", np.concatenate([spain, spain[:1]]))
    code, _, stderr = run_cli(capsys, "predict", three, "-o", tmp_path / "m.tif", "--method", "otsu")
    assert code == 1 and stderr.endswith("say which bands hold them with --vv-band N, --vh-band M.\n")
    code, _, stderr = run_cli(capsys, "predict", three, "-o", tmp_path / "m.tif", "--vv-band", "1", "--vh-band", "9")
    assert code == 1 and "so --vh-band 9 does not exist; choose a band from 1 to 3." in stderr
