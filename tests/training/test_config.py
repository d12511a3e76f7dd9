"""Training configs: files that extend others, typed sections, one-line errors naming the file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from floodsar.engine.errors import FloodSarError
from floodsar.training.config import load_config
from floodsar.training.network import ModelConfig


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_config_extends_others_in_order_and_overrides_key_by_key(tmp_path: Path) -> None:
    write(tmp_path, "base/common.toml", '[data]\ncrop = 64\nroot = "chips"\n[optim]\nepochs = 5\nlr = 0.01\n'
                                        '[model]\nencoder = "xception_lite"\n')
    write(tmp_path, "base/short.toml", "[optim]\nepochs = 1\n")
    stage = write(tmp_path, "stage.toml", 'extends = ["base/common.toml", "base/short.toml"]\n[run]\nname = "s"\n'
                                          '[data]\ninputs = "s1s2"\n[optim]\nlr = 0.5\n')
    config = load_config(stage)
    assert (config.data.crop, config.data.inputs, config.optim.epochs, config.optim.lr) == (64, "s1s2", 1, 0.5)
    assert config.data.root == str(tmp_path / "base" / "chips")  # relative to the file that sets it
    assert config.model == ModelConfig(encoder="xception_lite", in_channels=15)  # typed, bands from data.inputs


def test_shipped_quick_configs_are_their_stage_made_small(repo_root: Path) -> None:
    configs = repo_root / "training" / "configs"
    full, quick = load_config(configs / "distill.toml"), load_config(configs / "quick_distill.toml")
    assert (quick.name, quick.row, quick.distill.targets) == ("quick_distill", full.row, full.distill.targets)
    assert (quick.model.encoder, quick.data.crop, quick.optim.epochs) == ("xception_tiny", 32, 1)
    assert Path(quick.distill.teacher).name == "quick_teacher.toml"


@pytest.mark.parametrize("text, message", [
    ('[run]\nname = "x"\n[optim]\nepochs = "ten"\n', r"x.toml \[optim\] epochs: 'ten' is not a whole number"),
    ('[run]\nname = "x"\n[data]\ntrain = "hand"\n', r"x.toml \[data\] train: 'hand' is not a list of strings"),
    ('[run]\nname = "x"\n[model]\nencoder = "resnet"\n', r"x.toml \[model\]: unknown encoder 'resnet'"),
    ('[run]\nname = "x"\n[model]\nin_channels = 3\n', r"x.toml \[model\]: in_channels is set by data.inputs"),
    ('[run]\nname = "x"\n[model]\ndepth = 3\n', r"x.toml \[model\]: unknown setting\(s\) depth"),
    ('extends = "gone.toml"\n[run]\nname = "x"\n', r"gone.toml: config file not found \(extended by .*x.toml\)"),
    ('extends = "x.toml"\n[run]\nname = "x"\n', r"x.toml: extends x.toml, which extends it back"),
    ('extends = 3\n[run]\nname = "x"\n', r"x.toml extends: must be a file name or a list of them"),
    ("[optim]\nepochs = 3\n", r"x.toml: \[run\] needs a name"),
])
def test_errors_are_one_line_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FloodSarError, match=message) as error:
        load_config(write(tmp_path, "x.toml", text))
    assert "\n" not in str(error.value)
