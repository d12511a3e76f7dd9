"""floodsar-train: one command, shared options, one error handler, the older module forms."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from floodsar.training.cli import COMMANDS, build_parser, main


def test_every_command_is_listed_and_shares_the_device_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in COMMANDS)
    args = build_parser().parse_args(["evaluate", "--data", "d", "--otsu", "--device", "cpu", "--quiet"])
    assert (args.device, args.quiet) == ("cpu", True)
    assert build_parser().parse_args(["compare-real", "--synthetic", "s"]).device is None  # not taken


def test_a_user_error_is_one_line_and_status_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--data", str(tmp_path), "--otsu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_bad_usage_is_status_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(["train", "--device", "tpu", "--config", "x.toml"])
    assert done.value.code == 2 and "invalid choice: 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize("form", [["-m", "floodsar.training"], ["-m", "floodsar.training.evaluate"]])
def test_the_package_and_the_older_module_form_run_the_same_command(form: list[str], tmp_path: Path) -> None:
    command = [*form, "evaluate"] if form[-1] == "floodsar.training" else form
    done = subprocess.run([sys.executable, *command, "--data", str(tmp_path), "--otsu"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith(f"error: {tmp_path}/v1.1/splits")
