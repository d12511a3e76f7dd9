"""One fast step of every training stage on tiny generated chips, resuming, configs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from floodsar.engine.errors import FloodSarError
from floodsar.training import train as train_module
from floodsar.training.checkpoint import load_checkpoint
from floodsar.training.cli import main as floodsar_train
from floodsar.training.config import load_config
from floodsar.training.datasets import Sen1Floods11Hand
from floodsar.training.pseudo_label import label_folder, to_target
from floodsar.training.train import train

QUICK = ("quick_s1_hand", "quick_s1_weak", "quick_s1_weak_additional", "quick_teacher")


@pytest.fixture(scope="module")
def configs(repo_root: Path) -> Path:
    return repo_root / "training" / "configs"


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", QUICK)
def test_each_stage_trains_one_epoch(name: str, generated_data: Path, configs: Path, tmp_path: Path) -> None:
    assert floodsar_train(["train", "--config", str(configs / f"{name}.toml"), "--data", str(generated_data),
                           "--out", str(tmp_path), "--quiet"]) == 0
    run = tmp_path / "seed0"
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    [record] = _log(run)
    assert record["epoch"] == 1 and np.isfinite(record["loss"]) and 0 <= record["valid_iou"] <= 1
    model, config, _ = load_checkpoint(run / "best.pt")
    teacher = name == "quick_teacher"
    assert config.in_channels == (15 if teacher else 2)
    sample = Sen1Floods11Hand(generated_data, "test", "s1s2" if teacher else "s1")[0]
    with torch.no_grad():
        assert model.eval()(sample["image"][None]).shape == (1, 2, 64, 64)


def test_distillation_teacher_pseudo_labels_student(generated_data: Path, configs: Path, tmp_path: Path) -> None:
    assert floodsar_train(["train", "--config", str(configs / "quick_distill.toml"), "--data", str(generated_data),
                           "--out", str(tmp_path), "--quiet"]) == 0
    teacher = tmp_path / "teacher" / "seed0" / "best.pt"
    assert teacher.is_file() and load_checkpoint(teacher)[1].in_channels == 15
    labels = sorted((tmp_path / "seed0" / "pseudo" / "additional").glob("*_Pseudo.tif"))
    assert len(labels) == 3
    with rasterio.open(labels[0]) as src:
        probability = src.read(1)
    assert probability.shape == (64, 64)
    finite = probability[np.isfinite(probability)]
    assert finite.size and finite.min() >= 0 and finite.max() <= 1
    student, config, _ = load_checkpoint(tmp_path / "seed0" / "best.pt")
    assert config.in_channels == 2
    assert [r["epoch"] for r in _log(tmp_path / "seed0")] == [1]
    assert len(_log(tmp_path / "seed0")[0]["source_losses"]) == 2  # hand batches and teacher-labelled batches
    before = labels[0].stat().st_mtime_ns  # same teacher, same chips: not labelled again
    label_folder(teacher, generated_data / "additional", labels[0].parent, progress=False)
    assert labels[0].stat().st_mtime_ns == before


def test_teacher_targets_hard_soft_and_confidence() -> None:
    probability = np.array([0.1, 0.45, 0.9, np.nan], np.float32)
    assert to_target(probability, "hard").tolist() == [0, 0, 1, -1]
    assert to_target(probability, "hard", confidence=0.8).tolist() == [0, -1, 1, -1]
    assert to_target(probability, "soft", confidence=0.8).tolist() == pytest.approx([0.1, -1, 0.9, -1])


def test_resume_continues_where_the_run_stopped(generated_data: Path, configs: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    base = load_config(configs / "quick_s1_hand.toml").with_overrides(data_root=str(generated_data), epochs=2)
    straight = train(base.with_overrides(out=str(tmp_path / "straight")), progress=False)

    save, saves = train_module.save_checkpoint, []

    def crash_after_first_epoch(path: Path, *args, **kwargs) -> None:
        save(path, *args, **kwargs)
        saves.append(path.name)
        if path.name == "last.pt":
            raise KeyboardInterrupt

    interrupted = base.with_overrides(out=str(tmp_path / "interrupted"))
    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    resumed = train(interrupted, resume=True, progress=False)
    assert [r["epoch"] for r in _log(resumed.parent)] == [1, 2]
    final = [load_checkpoint(run.parent / "last.pt")[0].state_dict() for run in (straight, resumed)]
    for key, value in final[0].items():
        assert torch.equal(value, final[1][key]), key


def test_config_errors_name_the_file_and_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[run]\nname = "x"\n[data]\ninputs = "s1"\ncrops = 64\n')
    with pytest.raises(FloodSarError, match=r"bad.toml \[data\]: unknown setting\(s\) crops"):
        load_config(bad)
    bad.write_text('[run]\nname = "x"\n[data]\ninputs = "sar"\n')
    with pytest.raises(FloodSarError, match="data.inputs must be one of s1, s1s2"):
        load_config(bad)
    bad.write_text('[run]\nname = "x"\n[data]\ncrop = 100\n')
    with pytest.raises(FloodSarError, match="multiple of 16"):
        load_config(bad)
    assert floodsar_train(["train", "--config", str(tmp_path / "none.toml")]) == 1
    assert "config file not found" in capsys.readouterr().err


def test_missing_data_folder_is_explained(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert floodsar_train(["train", "--config", str(configs / "quick_s1_hand.toml"), "--data", str(tmp_path),
                           "--quiet"]) == 1
    assert "has no v1.1 folder" in capsys.readouterr().err


def test_every_shipped_config_loads(configs: Path) -> None:
    loaded = {path.stem: load_config(path) for path in configs.glob("*.toml")}
    assert {"s1_hand", "s1_weak", "s1_weak_additional", "teacher", "distill", "bundled"} <= set(loaded)
    assert all(loaded[n].model.encoder == "xception65" for n in ("s1_hand", "teacher", "distill"))
    assert {c.row for c in loaded.values() if c.row} == {"hand", "weak", "weak_additional", "distillation"}
