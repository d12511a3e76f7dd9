"""How well FloodSAR maps REAL floods: the shipped model vs Otsu on the labelled real chips.

    floodsar-train evaluate-real [--model resources/models/floodsar_s1.onnx]
                                 [--real ../shared/data/real] [--json scores.json]

Every chip goes through the engine exactly as a user's raster does (:func:`floodsar.engine.pipeline.predict`:
file reading, units and nodata rules, tiling, the model's metadata). Rows:

- the model (``--method model``);
- the engine's Otsu (``--method otsu``: VH threshold from bimodal tiles only, fixed fallback otherwise);
- plain per-chip Otsu on VH, the baseline row of the Sen1Floods11 paper.

Chips: Sen1Floods11 hand-labelled (``sen1floods11/S1Hand`` + ``LabelHand``, one VV+VH file each) and
DrivenData STAC Overflow (``stac_overflow/labelled``: separate VV and VH files, label 255 = nodata).
Chips without a valid labelled pixel are listed and skipped. Water IoU is aggregated over every counted
pixel of every chip (the paper's metric); "false water" is the share of a dry chip's pixels mapped as water.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..engine import raster_io
from ..engine.errors import FloodSarError
from ..engine.models import DEFAULT_MODEL, SUFFIXES, load_model
from ..engine.otsu import otsu_water
from ..engine.pipeline import PredictionRequest, predict
from ..engine.sentinel1 import open_sentinel1
from .evaluate import IGNORE_INDEX, Scores, confusion
from .real_data import ENVIRONMENT_VARIABLE, real_data_dir


@dataclass(frozen=True)
class RealChip:
    """One labelled real chip: its Sentinel-1 input file(s) and a label (1 water, 0 dry, -1 unknown)."""

    name: str
    dataset: str
    inputs: tuple[Path, ...]
    label: Path

    def read_label(self) -> np.ndarray:
        with raster_io.open_raster(self.label, "rasterio") as raster:
            label = raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0].astype(np.int16)
        label[(label != 0) & (label != 1)] = IGNORE_INDEX
        return label


def find_chips(real: Path) -> list[RealChip]:
    """The labelled chips under ``real`` (the layout of ../shared/data/real)."""
    chips = []
    for s1 in sorted((real / "sen1floods11" / "S1Hand").glob("*_S1Hand.tif")):
        name = s1.name[: -len("_S1Hand.tif")]
        label = real / "sen1floods11" / "LabelHand" / f"{name}_LabelHand.tif"
        if label.exists():
            chips.append(RealChip(name, "Sen1Floods11", (s1,), label))
    folder = real / "stac_overflow" / "labelled"
    for label in sorted(folder.glob("*.tif")):
        vv, vh = folder / f"{label.stem}_vv.tif", folder / f"{label.stem}_vh.tif"
        if vv.exists() and vh.exists():
            chips.append(RealChip(label.stem, "DrivenData", (vv, vh), label))
    if not chips:
        raise FloodSarError(f"{real}: no labelled chips found; pass --real pointing to the shared real-data "
                            "folder (with sen1floods11/ and stac_overflow/).")
    return chips


#: A method maps a chip to a uint8 mask (1 water, 0 dry, 255 nodata) on the chip's grid.
Method = Callable[[RealChip, Path], np.ndarray]


def backend_of(model: Path) -> str:
    """The engine backend that runs a model file (by its suffix; ONNX Runtime unless it is a ``.pt2``)."""
    return next((backend for backend, suffix in SUFFIXES.items() if suffix == model.suffix.lower()), "onnx")


def engine_method(method: str, model: Optional[Path] = None) -> Method:
    """The engine's pipeline with ``--method method``: the mask it writes, read back."""
    backend = backend_of(model) if model else "onnx"

    def run(chip: RealChip, workdir: Path) -> np.ndarray:
        output = workdir / f"{chip.name}_{method}.tif"
        predict(PredictionRequest(inputs=list(chip.inputs), output=output, method=method, model=model,
                                  backend=backend, device="cpu"))
        with raster_io.open_raster(output, "rasterio") as raster:
            return raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0]

    return run


def chip_otsu(chip: RealChip, workdir: Path) -> np.ndarray:
    """Plain Otsu on the chip's VH histogram (no bimodality check): the paper's baseline."""
    with open_sentinel1(list(chip.inputs)) as source:
        db, valid = source.read_db(0, 0, source.grid.height, source.grid.width)
    mask, _ = otsu_water(db[1], valid)
    return mask


@dataclass
class ChipResult:
    chip: RealChip
    scores: Scores

    @property
    def false_water(self) -> float:
        """Share of the chip's counted pixels mapped as water where the label says dry."""
        s = self.scores
        counted = s.tp + s.fp + s.fn + s.tn
        return s.fp / counted if counted else math.nan


def score_chip(method: Method, chip: RealChip, label: np.ndarray, workdir: Path) -> Scores:
    """Confusion of ``method`` on ``chip`` over pixels that are labelled and have data."""
    mask = method(chip, workdir)
    return confusion(mask == raster_io.WATER, label, mask != raster_io.NODATA)


def run(methods: dict[str, Method], chips: Sequence[RealChip], progress: bool = True
        ) -> tuple[dict[str, list[ChipResult]], list[str]]:
    """Scores of every method on every usable chip, and the names of the chips skipped (with why)."""
    from tqdm import tqdm

    results: dict[str, list[ChipResult]] = {name: [] for name in methods}
    skipped = []
    with tempfile.TemporaryDirectory(prefix="floodsar-eval-") as tmp:
        for chip in tqdm(chips, desc="real chips", unit="chip", disable=not progress):
            label = chip.read_label()
            if not (label != IGNORE_INDEX).any():
                skipped.append(f"{chip.name} (no labelled pixel)")
                continue
            try:
                scores = {name: score_chip(method, chip, label, Path(tmp)) for name, method in methods.items()}
            except FloodSarError as exc:  # e.g. a chip whose Sentinel-1 is entirely nodata
                skipped.append(f"{chip.name} ({exc})")
                continue
            for name, chip_scores in scores.items():
                results[name].append(ChipResult(chip, chip_scores))
    return results, skipped


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def markdown(results: dict[str, list[ChipResult]], skipped: Sequence[str]) -> str:
    """The summary table (aggregated IoU, precision, recall, false water on dry chips) and per-chip IoU."""
    names = list(results)
    lines = ["| method | water IoU (all pixels) | precision | recall | mean IoU of chips with water | false water on dry chips |",
             "|---|---|---|---|---|---|"]
    for name in names:
        total = sum((r.scores for r in results[name]), Scores())
        dry = [r for r in results[name] if r.scores.tp + r.scores.fn == 0]
        ious = [r.scores.iou for r in results[name] if r not in dry]
        false_water = ", ".join(f"{r.chip.name} {_pct(r.false_water)}%" for r in dry) or "n/a"
        lines.append(f"| {name} | {_pct(total.iou)} | {_pct(total.precision)} | {_pct(total.recall)} | "
                     f"{_pct(float(np.mean(ious)) if ious else math.nan)} | {false_water} |")
    lines += ["", "| chip | dataset | water px | " + " | ".join(f"{n} IoU" for n in names) + " |",
              "|---|---|---|" + "---|" * len(names)]
    for index, first in enumerate(results[names[0]]):
        row = [results[n][index] for n in names]
        water = first.scores.tp + first.scores.fn
        cells = [f"no water; false water {_pct(r.false_water)}%" if water == 0
                 else _pct(r.scores.iou) for r in row]
        lines.append(f"| {first.chip.name} | {first.chip.dataset} | {water} | " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped)]
    return "\n".join(lines)


def as_json(results: dict[str, list[ChipResult]]) -> dict:
    """Totals and per-chip scores of every method."""
    out = {}
    for name, chip_results in results.items():
        total = sum((r.scores for r in chip_results), Scores())
        out[name] = {"total": total.summary(),
                     "chips": {r.chip.name: {**r.scores.summary(), "false_water": r.false_water}
                               for r in chip_results}}
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX or .pt2 model (default: bundled)")
    parser.add_argument("--real", type=Path, default=None,
                        help=f"shared real-data folder (default: ${ENVIRONMENT_VARIABLE}, else ../shared/data/real)")
    parser.add_argument("--json", type=Path, help="also write all scores to this JSON file")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train evaluate-real``: the model vs Otsu on the labelled real chips, as a Markdown table."""
    load_model(args.model, backend_of(args.model), "cpu")  # a bad model fails here, not chip by chip
    methods = {"FloodSAR model": engine_method("model", args.model),
               "engine Otsu (bimodal tiles)": engine_method("otsu"),
               "per-chip Otsu (paper baseline)": chip_otsu}
    results, skipped = run(methods, find_chips(args.real or real_data_dir()), progress=not args.quiet)
    print(markdown(results, skipped))
    if args.json:
        with raster_io.atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(as_json(results), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.evaluate_real ...
    from .cli import main

    sys.exit(main(["evaluate-real", *sys.argv[1:]]))
