"""compare_real: statistics of generated vs real chips, on a tiny generated set and the real data."""
from __future__ import annotations

import numpy as np

from floodsar.training import compare_real
from floodsar.training.cli import main as floodsar_train


def test_distances_identical_and_disjoint():
    rng = np.random.default_rng(0)
    a = rng.normal(-20, 2, 5000)
    assert compare_real.distances(a, a) == (0.0, 1.0)
    ks, overlap = compare_real.distances(a, a + 15)
    assert ks > 0.99 and overlap < 0.01


def test_command_on_tiny_generated_set_and_real_data(tmp_path, real_data, capsys):
    root = tmp_path / "syn"
    assert floodsar_train(["synthetic", "--out", str(root), "--hand", "6", "--size", "64", "--seed", "1",
                           "--quiet"]) == 0
    capsys.readouterr()
    assert floodsar_train(["compare-real", "--synthetic", str(root), "--real", str(real_data)]) == 0
    out = capsys.readouterr().out
    for row in ("| dry | VV | real |", "| dry | VH | generated |", "speckle lag-1"):
        assert row in out
    real = compare_real.load_real(real_data)
    # Paraguay_34417 (all NaN) and Ghana_83483 (all -1) are skipped
    assert {c.name for c in real} == {"Spain_7370579", "India_900498", "Ghana_53713"}
    rows = {(r["cls"], r["band"]): r for r in compare_real.compare(real, real)}
    assert rows[("water", "VH")]["ks"] == 0.0
    assert rows[("water", "VV")]["real"][0] > rows[("dry", "VV")]["real"][0] - 20


def test_missing_synthetic_folder_is_a_clear_error(tmp_path, capsys):
    assert floodsar_train(["compare-real", "--synthetic", str(tmp_path / "nothing")]) == 1
    assert "generate them with" in capsys.readouterr().err
