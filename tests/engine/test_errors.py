"""Errors carry facts (option, value, file); each front end words them in its own names."""
from __future__ import annotations

from pathlib import Path

import pytest

from floodsar.engine.choices import Device, Method, choose
from floodsar.engine.cli import CLI_WORDING
from floodsar.engine.errors import FloodSarError, OptionError, Wording

QGIS_LIKE = Wording(names={"vv_band": "VV band number", "vh_band": "VH band number"}, setting="{name} '{value}'")


def test_an_option_error_keeps_its_facts_and_is_worded_per_front_end():
    error = OptionError("vv_band", None, "has 3 bands and their descriptions do not name VV and VH",
                        "say which bands hold them with {vv_band=N}, {vh_band=M}", Path("three.tif"))
    assert (error.option, error.value, error.path) == ("vv_band", None, Path("three.tif"))
    assert error.worded(CLI_WORDING) == ("three.tif: has 3 bands and their descriptions do not name VV and VH; "
                                         "say which bands hold them with --vv-band N, --vh-band M.")
    assert error.worded(QGIS_LIKE).endswith("with VV band number 'N', VH band number 'M'.")
    assert str(error).endswith("with VV band N, VH band M.") and "--" not in str(error)
    assert isinstance(error, FloodSarError)


def test_wording_fills_names_settings_and_leaves_other_braces():
    assert CLI_WORDING.fill("{tile} or {overlap=8}") == "--tile or --overlap 8"
    assert CLI_WORDING.fill("{some_new_option} {not an option}") == "some new option {not an option}"
    error = OptionError("model", "{x}.onnx", "model file not found", "check the {model} path", "{x}.onnx")
    assert error.worded(CLI_WORDING) == "{x}.onnx: model file not found; check the --model path."


def test_choices_are_checked_once_into_enums():
    assert choose(Device, "device", "cuda") is Device.CUDA and Device.CUDA == "cuda" and f"{Device.CUDA}" == "cuda"
    with pytest.raises(OptionError) as caught:
        choose(Method, "method", "sam")
    assert caught.value.worded(CLI_WORDING) == "unknown --method 'sam'; use --method model or --method otsu."
    assert (caught.value.option, caught.value.value) == ("method", "sam")
