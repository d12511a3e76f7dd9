"""The situation report of a run (``--report PATH.json``): what was mapped, from what, and how much.

Areas come from the pixel size at the raster centre (as the summary's). Acquisition dates come
from :mod:`.dates` (a date in the file name, else the rasters' tags); ``null`` when neither says.
The file is one of the run's staged outputs, renamed when the whole run succeeded.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .errors import PLAIN, OptionError
from .raster_io import RasterIO
from .dates import acquisition_date
from .safe_write import check_writable

if TYPE_CHECKING:  # the pipeline imports this module
    from .flood import FloodLayers
    from .pipeline import PredictionRequest, PredictionResult


def check_report_path(path: Path) -> None:
    """Refuse, before any work, a report path that is not a writable .json file."""
    if path.suffix.lower() != ".json":
        raise OptionError("report", path, "{report} must end in .json (FloodSAR writes the report as JSON)", path=path)
    check_writable(path)


def _files(paths: Sequence[Any], io: RasterIO) -> list[dict]:
    return [{"path": str(Path(p).resolve()), "acquired": acquisition_date([p], io)} for p in paths]


def _share(part: float, whole: float) -> Optional[float]:
    return round(part / whole, 6) if whole else None


def build_report(request: "PredictionRequest", result: "PredictionResult",
                 layers: Optional["FloodLayers"], io: RasterIO) -> dict:
    """The report as a JSON-ready dict (``io`` reads the inputs' acquisition dates)."""
    valid = result.valid_area_km2
    options = request.flood if layers is not None else None
    areas = result.class_areas_km2 or {"water": result.water_area_km2,
                                       "dry": result.valid_area_km2 - result.water_area_km2}
    inputs: dict[str, Any] = {"post_flood" if options else "image": _files(request.inputs, io)}
    thresholds: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    if options is not None:
        inputs["pre_flood"] = _files(options.pre, io)
        for name, path in (("reference_water", options.reference_water), ("hand", options.hand),
                           ("dem", options.dem)):
            if path:
                inputs[name] = str(Path(path).resolve())
        inputs["exclude"] = [str(Path(p).resolve()) for p in options.exclude]
        if layers.rule is not None:
            thresholds["reference_water"] = layers.rule.describe()
        if options.hand:
            thresholds["hand_max_m"] = options.hand_max_m
        if options.dem:
            thresholds["slope_max_deg"] = options.slope_max_deg
        counts = layers.counts
        notes["pre_missing"] = {
            "share_of_valid": _share(counts.pre_missing, counts.valid),
            "rule": "decided from the post-flood image alone: water is flood unless reference water"}
        if layers.reference is not None:
            notes["reference_uncovered_share_of_valid"] = _share(counts.reference_uncovered, counts.valid)
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "output": str(result.output),
        "vector": str(result.vector) if result.vector else None,
        "encoding": ("0 dry, 1 flood, 2 reference water, 3 excluded, 255 no data" if options
                     else "0 dry, 1 water, 255 no data"),
        "inputs": inputs,
        "method": request.method,
        "model": result.backend,
        "thresholds": thresholds,
        "minimum_mapping_unit_m2": request.min_area_m2,
        "valid_area_km2": valid,
        "classes": {name: {"area_km2": area, "share_of_valid": _share(area, valid)} for name, area in areas.items()},
        "polygons": result.polygons,
        **notes,
        "warnings": [PLAIN.fill(warning) for warning in result.warnings],  # options in plain words
        "run_time_s": round(result.seconds, 3),
    }


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf (areas in a CRS of unknown units) replaced by None (JSON null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return value


def write_report(path: Path, request: "PredictionRequest", result: "PredictionResult",
                 layers: Optional["FloodLayers"], io: RasterIO) -> None:
    """Write the report as JSON into ``path`` (a run's staged temporary file)."""
    text = json.dumps(json_ready(build_report(request, result, layers, io)), indent=2, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
