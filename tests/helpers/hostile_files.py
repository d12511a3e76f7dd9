"""Hostile files for fault-injection tests (engine and plugin tests): ``from helpers.hostile_files import ...``."""
from __future__ import annotations

import builtins
import json
import pickle
import zipfile
from pathlib import Path


class _CreatesMarker:
    """Unpickling this creates a file: the proof that loading ran the author's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def hostile_pt2(good: Path, path: Path, marker: Path) -> Path:
    """A copy of a real ``.pt2`` whose bias weight is a pickle that creates ``marker`` when loaded."""
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("data/weights/model_weights_config.json"):
                config = json.loads(data)
                config["config"]["conv.bias"]["use_pickle"] = True
                data = json.dumps(config).encode()
            elif info.filename.endswith("data/weights/weight_1"):
                data = pickle.dumps(_CreatesMarker(marker), protocol=2)
            target.writestr(info, data)
    return path
