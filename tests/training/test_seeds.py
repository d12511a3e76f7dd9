"""The seeds runner and the paper's table."""
from __future__ import annotations

from pathlib import Path

import pytest

from floodsar.training.cli import main as floodsar_train
from floodsar.training.seeds import PAPER_ROWS, format_table, run_seeds


def test_table_shows_mean_std_beside_the_paper() -> None:
    table = format_table({"distillation": [70.0, 72.0], "otsu": [55.123], "hand": [float("nan")]})
    lines = table.splitlines()
    assert lines[0] == "| Method | Water IoU, ours (mean ± std) | Seeds | Paper |"
    assert lines[2] == "| Otsu thresholding (VH) | 55.12 | 1 | 54.58 |"  # the paper's order, Otsu first
    assert lines[3] == "| S1 supervised, hand labels | n/a | 0 | 67.63 |"
    assert lines[4] == "| Cross-modal distillation | 71.00 ± 1.41 | 2 | 71.91 |"  # sample std
    assert len(lines) == 5  # rows without results are left out


def test_paper_numbers() -> None:
    assert {k: v[1] for k, v in PAPER_ROWS.items()} == {
        "otsu": 54.58, "hand": 67.63, "weak": 67.76, "weak_additional": 68.94, "distillation": 71.91}


def test_runs_each_seed_and_scores_the_test_split(generated_data: Path, repo_root: Path, tmp_path: Path) -> None:
    config = repo_root / "training" / "configs" / "quick_s1_hand.toml"
    results = run_seeds([config], [0, 1], str(generated_data), otsu=True, out_root=str(tmp_path), progress=False)
    assert set(results) == {"otsu", "hand"} and len(results["otsu"]) == 1 and len(results["hand"]) == 2
    assert all(0 <= v <= 100 for v in results["hand"] + results["otsu"])
    assert sorted(p.name for p in (tmp_path / "quick_s1_hand").iterdir()) == ["seed0", "seed1"]


def test_config_without_a_table_row_is_refused(generated_data: Path, repo_root: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    teacher = repo_root / "training" / "configs" / "quick_teacher.toml"
    assert floodsar_train(["seeds", str(teacher), "--data", str(generated_data), "--seeds", "1", "--quiet"]) == 1
    assert "run.row must name a row of the paper's table" in capsys.readouterr().err
