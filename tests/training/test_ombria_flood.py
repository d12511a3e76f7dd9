"""OMBRIA flood scoring on real pre/post pairs (a few pairs linked into a temporary folder)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from floodsar.engine.errors import FloodSarError
from floodsar.training import ombria_flood


@pytest.fixture
def few_pairs(large_real_data, tmp_path):
    """Three real test pairs in the OMBRIA layout."""
    source = large_real_data.parent / "ombria" / "OmbriaS1" / "test"
    for kind in ("BEFORE", "AFTER", "MASK"):
        folder = tmp_path / "OmbriaS1" / "test" / kind
        folder.mkdir(parents=True)
        for path in sorted((source / kind).glob("*.png"))[:3]:
            (folder / path.name).symlink_to(path)
    return tmp_path


def test_change_detection_keeps_only_post_water_that_was_not_water_before(few_pairs, tmp_path):
    [pair, *_] = ombria_flood.find_pairs(few_pairs, "test")
    found = ombria_flood.map_pair(pair, tmp_path)
    change, post = found["change detection"], found["post-only water"]
    assert post.any() and not np.any(change & ~post)  # flood is post water minus reference water
    result = ombria_flood.evaluate(few_pairs, "test")
    scores = result["methods"]
    assert result["pairs"] == 3 and 0 < scores["post-only water"]["flood_iou"] < 1
    assert scores["change detection"]["recall"] <= scores["post-only water"]["recall"]


def test_command_prints_the_table_and_writes_json(few_pairs, tmp_path, capsys):
    assert ombria_flood.main([str(few_pairs), "--split", "test", "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "| test (3) | change detection |" in out
    assert json.loads((tmp_path / "s.json").read_text())[0]["split"] == "test"
    with pytest.raises(FloodSarError, match="no OMBRIA pairs found"):
        ombria_flood.find_pairs(tmp_path / "empty", "train")
