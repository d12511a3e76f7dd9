"""The record of a finished scene (``NAME_water.json`` beside its mask), and when a rerun may skip it.

A scene is *complete* when its record exists and was written for the same files read (inputs,
pre-flood images and flood layers: path, size, modification time) and the same mapping settings, and every output it lists
exists, opens as a raster (or, for a GeoPackage, is not empty) and has the input's grid.
Outputs are renamed onto their final names only when whole, and the record is written
(atomically) after them, so an interrupted scene never looks complete.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import FloodSarError
from ..grid import RasterGrid
from ..io_choice import choose_io
from ..safe_write import PARTIAL, atomic_output
from .inputs import Scene

#: Bump when the record's meaning changes: older records are then redone, not trusted.
RECORD_VERSION = 1


def _file_facts(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "modified_ns": stat.st_mtime_ns}


def _grid_facts(grid: RasterGrid) -> dict[str, Any]:
    return {"width": grid.width, "height": grid.height, "transform": list(grid.transform)}


def write_record(scene: Scene, settings: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Write the scene's record (atomically) once all its outputs are in place."""
    with choose_io().open_raster(scene.output) as mask:
        grid = _grid_facts(mask.grid)
    record = {"version": RECORD_VERSION, "inputs": [_file_facts(p) for p in scene.reads],
              "settings": dict(settings), "outputs": [str(p.resolve()) for p in scene.outputs()], "grid": grid,
              "result": dict(result)}
    with atomic_output(scene.record) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")


def read_record(scene: Scene) -> Optional[dict[str, Any]]:
    """The scene's record, or None when there is none or it cannot be read."""
    try:
        record = json.loads(scene.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def _output_matches(path: Path, grid: Mapping[str, Any]) -> bool:
    if path.suffix.lower() not in (".tif", ".tiff"):
        return path.is_file() and path.stat().st_size > 0
    try:
        with choose_io().open_raster(path) as raster:
            return _grid_facts(raster.grid) == grid
    except FloodSarError:
        return False


def completed_result(scene: Scene, settings: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The recorded result when ``scene`` is complete for ``settings`` (see the module doc), else None."""
    record = read_record(scene)
    if record is None or record.get("settings") != json.loads(json.dumps(dict(settings))):
        return None
    try:
        if record.get("inputs") != [_file_facts(p) for p in scene.reads]:
            return None
        with choose_io().open_raster(scene.inputs[0]) as source:
            input_grid = _grid_facts(source.grid)
    except (OSError, FloodSarError):
        return None
    if record.get("grid") != input_grid or record.get("outputs") != [str(p.resolve()) for p in scene.outputs()]:
        return None
    if not all(_output_matches(path, input_grid) for path in scene.outputs()):
        return None
    return record.get("result")


def remove_partials(scene: Scene) -> None:
    """Delete what writers of the scene's files killed outright (kill -9 of a worker, a power cut) left:
    the private ``.STEM.RANDOM.partial`` folders of :class:`~..safe_write.StagedOutputs` beside each."""
    for final in [*scene.outputs(), scene.record]:
        pattern = re.compile(rf"\.{re.escape(final.stem)}\.[^.]+{re.escape(PARTIAL)}")
        with contextlib.suppress(FileNotFoundError):
            for path in final.parent.iterdir():
                if pattern.fullmatch(path.name) and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)


def remove_record(scene: Scene) -> None:
    """Forget a scene's earlier run (before redoing it)."""
    try:
        os.unlink(scene.record)
    except FileNotFoundError:
        pass
