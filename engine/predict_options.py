"""The options of ``floodsar predict``, defined once and shared with ``floodsar batch``.

Every option's ``dest`` is the name of a :class:`~.pipeline.PredictionRequest` (or
:class:`~.flood.FloodOptions`) field, so :func:`request_from_args` builds the request without
listing the options again, and an option added here appears in both commands. Options that
name an extra output file (:data:`EXTRA_OUTPUTS`) take a path in ``predict`` and become
per-scene switches in ``batch``; ``--pre`` takes one image in ``predict`` and a pool of
pre-flood images in ``batch`` (each scene uses those overlapping it: :mod:`.event.pre`).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from .choices import Backend, Device, Method, Precision, Units, values
from .flood import REFERENCE_KINDS, FloodOptions
from .request import PredictionRequest
from .terrain import HAND_MAX_M, SLOPE_MAX_DEG


@dataclass(frozen=True)
class ExtraOutput:
    """An extra output file: ``--FIELD PATH`` in predict, a switch writing NAME``ending`` per scene in batch."""

    metavar: str
    holds: str
    ending: str
    #: The batch switch, where ``--FIELD`` means something else there (batch's --report is the event's).
    batch_flag: str = ""


#: Extra output files by request field.
EXTRA_OUTPUTS: Mapping[str, ExtraOutput] = {
    "probabilities": ExtraOutput("P.tif", "the water probability (0..1)", "_probability.tif"),
    "vector": ExtraOutput("OUT.gpkg", "water (or flood class) polygons with their area in m2", "_water.gpkg"),
    "report": ExtraOutput("REPORT.json", "a JSON report: areas per class, inputs and dates, method, thresholds",
                          "_report.json", "--scene-reports"),
}
#: Request fields that say where to write, not how to map (left out of a run's settings).
OUTPUT_FIELDS = ("inputs", "output", *EXTRA_OUTPUTS)


def add_band_options(parser: argparse.ArgumentParser) -> None:
    """How to read the input: band numbers and units."""
    parser.add_argument("--vv-band", type=int, metavar="N", help="band number of VV (default: from band names)")
    parser.add_argument("--vh-band", type=int, metavar="N", help="band number of VH (default: from band names)")
    parser.add_argument("--units", choices=values(Units), default=Units.AUTO.value,
                        help="backscatter units of the input (default: detected from the values)")


def add_predict_options(parser: argparse.ArgumentParser, per_scene: bool = False) -> None:
    """Every mapping option of ``predict`` (not the inputs or -o), flood classes included.
    ``per_scene`` (``floodsar batch``): the extra outputs are switches writing one file per scene
    beside its mask, and ``--pre`` is a pool of pre-flood images."""
    add_band_options(parser)
    parser.add_argument("--method", choices=values(Method), default=Method.MODEL.value,
                        help="segmentation model (default) or the Otsu threshold baseline on VH")
    parser.add_argument("--model", metavar="PATH", help="FloodSAR model file (.onnx, or .pt2 with "
                        "--backend torch; default: the bundled model)")
    parser.add_argument("--backend", choices=values(Backend), default=Backend.ONNX.value,
                        help="inference runtime (default onnx)")
    parser.add_argument("--trust-model", action="store_true",
                        help="open a .pt2 model that is not the bundled one (a .pt2 file can run code when opened: "
                             "only for files you made or trust)")
    parser.add_argument("--device", choices=values(Device), default=Device.AUTO.value,
                        help="where to run the model (default: a GPU when available)")
    parser.add_argument("--precision", choices=values(Precision), default=Precision.AUTO.value,
                        help="which bundled model runs (without --model): int8 (faster on a CPU, 0.2 IoU points "
                             "below fp32 on real chips) or fp32; default auto: int8 for ONNX Runtime on the CPU, "
                             "else fp32")
    parser.add_argument("--tile", type=int, metavar="N", help="tile size in pixels (default: the model's)")
    parser.add_argument("--overlap", type=int, metavar="N",
                        help="context pixels on each side of a tile (default: the model's)")
    parser.add_argument("--batch", type=int, metavar="N", help="tiles per batch (default 1 on CPU, 4 on GPU)")
    for name, extra in EXTRA_OUTPUTS.items():
        if per_scene:
            parser.add_argument(extra.batch_flag or f"--{name}", dest=name, action="store_true",
                                help=f"also write {extra.holds}, per scene (NAME{extra.ending})")
        else:
            parser.add_argument(f"--{name}", metavar=extra.metavar, help=f"also write {extra.holds}")
    parser.add_argument("--min-area", dest="min_area_m2", type=float, default=0.0, metavar="M2",
                        help="minimum mapping unit: merge water/dry patches smaller than this (m2)")
    parser.add_argument("--extent", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help="map only this area, in the input's CRS (default: the whole raster)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help="water above this probability (model, 0..1; default the model's) or below this VH "
                             "dB (otsu; default found by Otsu's method)")
    _add_flood_options(parser, per_scene)


#: Help of --pre: predict's one image, batch's pool.
_PRE_HELP = {False: "pre-flood image (same rules as INPUT): water in it is reference water, so only new water "
                    "is flood",
             True: "pool of pre-flood images (files, globs, lists, VV/VH paired as INPUT): each scene uses the "
                   "ones overlapping it (stacked in OUTDIR/NAME_pre/, the latest on top); a scene none overlaps fails"}


def _add_flood_options(parser: argparse.ArgumentParser, per_scene: bool) -> None:
    """The options that turn the water mask into a flood class map."""
    group = parser.add_argument_group(
        "flood classes", "Any of these turns the output into a class map: 0 dry, 1 flood, 2 reference water, "
                         "3 excluded, 255 nodata. Layers may have any CRS and grid; rasters or vector polygons.")
    group.add_argument("--pre", nargs="+", metavar="PRE", help=_PRE_HELP[per_scene])
    group.add_argument("--reference-water", metavar="PATH", help="reference (normal) water: JRC occurrence or "
                       "seasonality, a 0/1 raster mask, or water polygons")
    group.add_argument("--reference-kind", choices=REFERENCE_KINDS, default="auto",
                       help="how to read --reference-water: occurrence (water >= 50%%), seasonality "
                            "(>= 10 months), mask (>= 1); default: from the name, else a 0/1 mask")
    group.add_argument("--reference-threshold", type=float, metavar="V",
                       help="reference water where the layer's value >= V (overrides the kind's default)")
    group.add_argument("--hand", metavar="PATH", help="height above nearest drainage (m): excluded above --hand-max")
    group.add_argument("--hand-max", dest="hand_max_m", type=float, default=HAND_MAX_M, metavar="M",
                       help=f"HAND threshold in metres (default {HAND_MAX_M:g})")
    group.add_argument("--dem", metavar="PATH", help="elevation (m): excluded where the slope exceeds --slope-max")
    group.add_argument("--slope-max", dest="slope_max_deg", type=float, default=SLOPE_MAX_DEG, metavar="DEG",
                       help=f"slope threshold in degrees (default {SLOPE_MAX_DEG:g}, as UN-SPIDER)")
    group.add_argument("--exclude", nargs="+", metavar="PATH",
                       help="other exclusion masks (non-zero raster pixels) or polygons")


def request_from_args(args: argparse.Namespace, **paths: Any) -> PredictionRequest:
    """A request from parsed options; ``paths`` gives (or overrides) inputs, output and extra outputs."""
    given = vars(args)
    values = {f.name: given[f.name] for f in fields(PredictionRequest) if f.name in given}
    flood = {f.name: given[f.name] for f in fields(FloodOptions) if given.get(f.name) is not None}
    if flood:
        values["flood"] = FloodOptions(**flood)
    values.update(paths)
    return PredictionRequest(**values)


def settings(request: PredictionRequest) -> dict[str, Any]:
    """How a request maps (every field but the paths it reads and writes; flood layers included), JSON-ready."""
    values = {f.name: getattr(request, f.name) for f in fields(PredictionRequest) if f.name not in OUTPUT_FIELDS}
    if request.flood is not None:
        values["flood"] = asdict(request.flood)
    return json.loads(json.dumps(values, default=str))
