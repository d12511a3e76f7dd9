"""The event report (JSON): per scene and in total, areas per class, dates, timings and failures.

Areas are measured on the mosaic grid (:mod:`.mosaic`), so a pixel seen by two scenes counts
once in the event's total; ``overlap_km2`` says how much the scenes' own areas double-count.
Pixel areas are taken row by row (latitude-aware in geographic CRSs, on a sphere of
6,371 km; a projection's own scale error, at most 0.1% in UTM, is not corrected).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from ..dates import acquisition_date
from ..safe_write import atomic_output
from .mosaic import EventAreas
from .runner import FAILED, SceneOutcome


def build_report(outcomes: Sequence[SceneOutcome], areas: Optional[EventAreas], mosaic_names: Sequence[str],
                 seconds: float, mosaic: Optional[Path]) -> dict[str, Any]:
    """The report as a JSON-ready dict; ``areas`` (None without mosaic) lists scenes in ``mosaic_names`` order."""
    on_grid = dict(zip(mosaic_names, areas.scenes)) if areas else {}
    scenes = []
    for outcome in outcomes:
        scene = outcome.scene
        entry: dict[str, Any] = {"name": scene.name, "status": outcome.status,
                                 "inputs": [str(p) for p in scene.inputs], "date": acquisition_date(scene.inputs)}
        if scene.pre:
            entry["pre_flood"] = [str(p) for p in scene.pre]
        if outcome.reason:
            entry["reason"] = outcome.reason
        if outcome.result:
            entry.update(output=str(scene.output), seconds=outcome.result.get("seconds"),
                         backend=outcome.result.get("backend"), warnings=outcome.result.get("warnings", []))
        if scene.name in on_grid:
            entry["areas_km2"] = on_grid[scene.name].as_dict()
        scenes.append(entry)
    dates = sorted(entry["date"] for entry in scenes if entry["date"])
    event: dict[str, Any] = {
        "scenes": len(outcomes), "mapped": sum(1 for o in outcomes if o.result),
        "failed": sum(1 for o in outcomes if o.status == FAILED),
        "first_date": dates[0] if dates else None, "last_date": dates[-1] if dates else None,
        "mosaic_rule": None if areas is None else
        "latest scene with data decides" if areas.classes else "water where any scene saw water",
        "seconds": round(seconds, 3),
        "mapping_seconds": round(sum(o.result.get("seconds", 0.0) for o in outcomes if o.result), 3)}
    if areas is not None:
        total = areas.event.as_dict()
        total["overlap_km2"] = round(sum(tally.valid for tally in areas.scenes) - areas.event.valid, 6)
        crs_name = areas.grid.crs_wkt.split('"')[1] if '"' in areas.grid.crs_wkt else areas.grid.crs_wkt[:60]
        event.update(areas_km2=total, grid={"crs": crs_name, "width": areas.grid.width,
                                            "height": areas.grid.height, "transform": list(areas.grid.transform)})
    if mosaic is not None:
        event["mosaic"] = str(mosaic)
    return {"event": event, "scenes": scenes}


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as indented JSON, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
