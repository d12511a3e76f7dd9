"""How well FloodSAR maps REAL floods: the model vs Otsu on labelled real Sentinel-1, through ``floodsar predict``.

    floodsar-train evaluate-real --layout {sen1floods11,stac_overflow,etci,ombria,dry} DIR [--model M] [--json OUT]
    floodsar-train evaluate-real [--real ../shared/data/real]     # its Sen1Floods11 + STAC Overflow chips
    (python -m floodsar.training.evaluate_real ... runs the same command)

Every raster goes through the engine exactly as a user's raster does (:func:`floodsar.engine.pipeline.predict`:
file reading, units and nodata rules, tiling, the model's metadata and normalisation); the layouts, including
how 8-bit ETCI tiles become a raster, are described in :mod:`floodsar.training.real_layouts`. Rows:

- ``model``: the model (``--method model``);
- ``engine_otsu``: the engine's Otsu (``--method otsu``: VH threshold from bimodal tiles, fixed fallback otherwise);
- ``chip_otsu``: plain Otsu on each chip's VH histogram, the baseline row of the Sen1Floods11 paper.

Pre-/post-flood pairs (``--layout ombria``) are scored on FLOOD (the label marks flooded pixels), with the
engine's Otsu (the pairs are single-polarisation, which the model cannot map):

- ``post_only_water``: the post-flood image alone, every water pixel counted as flood;
- ``change_detection``: the same with the pre-flood image (``floodsar predict --pre``): flood = class 1.

``removed_by_pre`` then counts the pixels change detection removed from post-only water (water on both
dates) and how many of them the labels call flooded. Dry land without labels (``--layout dry``) is scored
as all dry: ``false_water_dry`` is each method's share of valid pixels mapped as water.

Chips that cannot be scored (a missing file, no labelled pixel, no valid Sentinel-1 pixel) are skipped with a
note. Water IoU, precision and recall are aggregated over every counted pixel of every chip (the paper's
metric); "false water" is the share of a dry chip's pixels mapped as water. ``--json`` writes
``{"layout", "folder", "model", "methods": {name: {"water_iou", "precision", "recall", "false_water_dry",
"tp", "fp", "fn", "tn"}}, "chips": {chip: {name: {...}}}, "skipped": [...]}`` with fractions 0-1.
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

from ..engine.errors import FloodSarError
from ..engine.flood import FloodOptions
from ..engine.mask_encoding import DRY, FLOOD, NODATA, WATER
from ..engine.models import DEFAULT_MODEL, SUFFIXES, load_model
from ..engine.otsu import otsu_water
from ..engine.pipeline import PredictionRequest, predict
from ..engine.report import json_ready
from ..engine.rasterio_io import RasterioIO
from ..engine.safe_write import atomic_output
from ..engine.sentinel1 import open_sentinel1
from .evaluate import IGNORE_INDEX, Scores, confusion
from .real_data import ENVIRONMENT_VARIABLE, real_data_dir
from .real_layouts import ETCI_BLOCKS, LAYOUTS, RealChip
from .real_layouts import find_chips as find_layout_chips

#: Row keys of the JSON output, in table order.
METHODS = ("model", "engine_otsu", "chip_otsu")
FLOOD_METHODS = ("post_only_water", "change_detection")
TITLES = {"model": "FloodSAR model", "engine_otsu": "engine Otsu (bimodal tiles)",
          "chip_otsu": "per-chip Otsu (paper baseline)", "post_only_water": "post-only water (engine Otsu)",
          "change_detection": "change detection (engine Otsu, --pre)"}


def find_chips(real: Path) -> list[RealChip]:
    """The labelled chips under the shared real-data folder (its sen1floods11/ and stac_overflow/labelled/)."""
    chips = []
    for layout, folder in (("sen1floods11", real / "sen1floods11"), ("stac_overflow", real / "stac_overflow" / "labelled")):
        if folder.is_dir():
            chips += LAYOUTS[layout](folder, folder)[0]
    if not chips:
        raise FloodSarError(f"{real}: no labelled chips found; pass --real pointing to the shared real-data "
                            "folder (with sen1floods11/ and stac_overflow/).")
    return chips


#: A method maps a chip to a uint8 mask (1 water, 0 dry, 255 nodata) on the chip's grid.
Method = Callable[[RealChip, Path], np.ndarray]


def backend_of(model: Path) -> str:
    """The engine backend that runs a model file (by its suffix; ONNX Runtime unless it is a ``.pt2``)."""
    return next((backend for backend, suffix in SUFFIXES.items() if suffix == model.suffix.lower()), "onnx")


def engine_method(method: str, model: Optional[Path] = None, change: bool = False, tile: Optional[int] = None,
                  overlap: Optional[int] = None) -> Method:
    """The engine's pipeline with ``--method method``: the mask it writes, read back. With ``change``, the
    chip's pre-flood image goes in as ``--pre`` and the class map's flood (class 1) is the positive class.
    ``tile``, ``overlap``: the model's tile side and context per side in pixels (None: the model's own)."""
    backend = backend_of(model) if model else "onnx"

    def run(chip: RealChip, workdir: Path) -> np.ndarray:
        output = workdir / f"{chip.name}_{method}.tif"
        flood = FloodOptions(pre=list(chip.pre)) if change else None
        predict(PredictionRequest(inputs=list(chip.inputs), output=output, method=method, model=model,
                                  backend=backend, device="cpu", flood=flood, tile=tile,
                                  overlap=overlap, overwrite=True))  # one scratch folder
        with RasterioIO().open_raster(output) as raster:
            mask = raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0]
        output.unlink()
        if change:
            mask = np.where(mask == NODATA, NODATA,
                            np.where(mask == FLOOD, WATER, DRY)).astype(np.uint8)
        return mask

    return run


def chip_otsu(chip: RealChip, workdir: Path) -> np.ndarray:
    """Plain Otsu on each scored window's VH histogram (no bimodality check): the paper's baseline."""
    with open_sentinel1(list(chip.inputs)) as source:
        mask = np.full((source.grid.height, source.grid.width), NODATA, np.uint8)
        for _, (rows, cols) in chip.windows(mask.shape):
            db, valid = source.read_db(rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start)
            if valid.any():
                mask[rows, cols] = otsu_water(db[1], valid)[0]
    return mask


@dataclass
class ChipResult:
    name: str
    dataset: str
    scores: Scores

    @property
    def false_water(self) -> float:
        """Share of the chip's counted pixels mapped as water where the label says dry."""
        s = self.scores
        counted = s.tp + s.fp + s.fn + s.tn
        return s.fp / counted if counted else math.nan

    @property
    def is_dry(self) -> bool:
        return self.scores.tp + self.scores.fn == 0


def score_chip(methods: dict[str, Method], chip: RealChip, workdir: Path) -> dict[str, list[ChipResult]]:
    """Every method's results on each scored window of ``chip`` that has labelled pixels with data."""
    label = chip.read_label()
    masks = {name: method(chip, workdir) for name, method in methods.items()}
    results: dict[str, list[ChipResult]] = {name: [] for name in methods}
    for window_name, window in chip.windows(label.shape):
        counted = (label[window] != IGNORE_INDEX) & (masks[next(iter(masks))][window] != NODATA)
        if not counted.any():
            continue
        for name, mask in masks.items():
            scores = confusion(mask[window] == WATER, label[window], mask[window] != NODATA)
            results[name].append(ChipResult(window_name, chip.dataset, scores))
    return results


def run(methods: dict[str, Method], chips: Sequence[RealChip], progress: bool = True
        ) -> tuple[dict[str, list[ChipResult]], list[str]]:
    """Scores of every method on every usable chip, and the chips skipped (with why)."""
    from tqdm import tqdm

    results: dict[str, list[ChipResult]] = {name: [] for name in methods}
    skipped = []
    with tempfile.TemporaryDirectory(prefix="floodsar-eval-") as tmp:
        for chip in tqdm(chips, desc="real chips", unit="chip", disable=not progress):
            try:
                if not (chip.read_label() != IGNORE_INDEX).any():
                    skipped.append(f"{chip.name} (no labelled pixel)")
                    continue
                chip_results = score_chip(methods, chip, Path(tmp))
            except FloodSarError as exc:  # e.g. a chip whose Sentinel-1 is entirely nodata, or a broken file
                skipped.append(f"{chip.name} ({exc})")
                continue
            if not any(chip_results.values()):
                skipped.append(f"{chip.name} (no labelled pixel with data)")
            for name, rows in chip_results.items():
                results[name] += rows
    return results, skipped


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def totals(rows: Sequence[ChipResult]) -> dict:
    """Aggregated scores of one method (fractions 0-1; NaN where undefined)."""
    total = sum((r.scores for r in rows), Scores())
    dry = sum((r.scores for r in rows if r.is_dry), Scores())
    dry_counted = dry.fp + dry.tn
    return {"water_iou": total.iou, "precision": total.precision, "recall": total.recall,
            "false_water_dry": dry.fp / dry_counted if dry_counted else math.nan,
            "dry_chips": sum(r.is_dry for r in rows), "chips": len(rows),
            "tp": total.tp, "fp": total.fp, "fn": total.fn, "tn": total.tn}


def markdown(results: dict[str, list[ChipResult]], skipped: Sequence[str], per_chip: bool = True) -> str:
    """The summary table (aggregated IoU, precision, recall, false water on dry chips) and per-chip IoU."""
    names = list(results)
    positive = "flood" if set(FLOOD_METHODS) <= set(names) else "water"
    lines = [f"| method | {positive} IoU (all pixels) | precision | recall | mean IoU of chips with {positive} | "
             "false water on dry chips |", "|---|---|---|---|---|---|"]
    for name in names:
        total = totals(results[name])
        ious = [r.scores.iou for r in results[name] if not r.is_dry]
        lines.append(f"| {TITLES.get(name, name)} | {_pct(total['water_iou'])} | {_pct(total['precision'])} | "
                     f"{_pct(total['recall'])} | {_pct(float(np.mean(ious)) if ious else math.nan)} | "
                     f"{_pct(total['false_water_dry'])}% of {total['dry_chips']} chip(s) |")
    if per_chip and names:
        titles = " | ".join(f"{TITLES.get(n, n)} IoU" for n in names)
        lines += ["", f"| chip | dataset | {positive} px | {titles} |",
                  "|---|---|---|" + "---|" * len(names)]
        for index, first in enumerate(results[names[0]]):
            row = [results[n][index] for n in names]
            water = first.scores.tp + first.scores.fn
            cells = [f"no water; false water {_pct(r.false_water)}%" if first.is_dry else _pct(r.scores.iou)
                     for r in row]
            lines.append(f"| {first.name} | {first.dataset} | {water} | " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped)]
    return "\n".join(lines)


def removed_by_pre(results: dict[str, list[ChipResult]]) -> Optional[dict]:
    """Pixels change detection took out of post-only water (water on both dates), and how many the labels
    call flooded; None without both rows. Change detection's flood is a subset of post-only water, so the
    differences of their counts are exactly these pixels."""
    if not set(FLOOD_METHODS) <= set(results):
        return None
    post, change = (totals(results[name]) for name in FLOOD_METHODS)
    flooded, not_flooded = post["tp"] - change["tp"], post["fp"] - change["fp"]
    total = flooded + not_flooded
    return {"pixels": total, "labelled_flooded": flooded,
            "labelled_flooded_share": flooded / total if total else math.nan}


def as_json(results: dict[str, list[ChipResult]], skipped: Sequence[str], **context: str) -> dict:
    """Totals per method, per-chip scores and the skipped chips (the positive class is flood for pairs)."""
    chips: dict[str, dict] = {}
    for name, rows in results.items():
        for r in rows:
            chips.setdefault(r.name, {"dataset": r.dataset})[name] = {
                "water_iou": r.scores.iou, "precision": r.scores.precision, "recall": r.scores.recall,
                "false_water": r.false_water, "water_px": r.scores.tp + r.scores.fn}
    document = {**context, "positive_class": "flood" if set(FLOOD_METHODS) <= set(results) else "water",
                "methods": {name: totals(rows) for name, rows in results.items()}, "chips": chips,
                "skipped": list(skipped)}
    removed = removed_by_pre(results)
    return {**document, "removed_by_pre": removed} if removed else document


def evaluate(chips: Sequence[RealChip], model: Path, progress: bool = True, tile: Optional[int] = None,
             overlap: Optional[int] = None) -> tuple[dict[str, list[ChipResult]], list[str]]:
    """Model (on ``tile`` px tiles with ``overlap`` px of context; None: the model's own), engine Otsu and
    per-chip Otsu on ``chips``; post-only water and change detection (engine Otsu) when the chips are
    pre-/post-flood pairs."""
    if any(chip.pre for chip in chips):
        methods = {"post_only_water": engine_method("otsu"), "change_detection": engine_method("otsu", change=True)}
        return run(methods, chips, progress)
    load_model(model, backend_of(model), "cpu")  # a bad model fails here, not chip by chip
    methods = {"model": engine_method("model", model, tile=tile, overlap=overlap),
               "engine_otsu": engine_method("otsu"), "chip_otsu": chip_otsu}
    return run(methods, chips, progress)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", type=Path, help="a folder in the --layout layout")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), help="layout of FOLDER (required with FOLDER)")
    parser.add_argument("--etci-block", choices=ETCI_BLOCKS, default="all",
                        help="--layout etci: score all tiles, or only tile columns 0-30 (training) or >= 33 "
                             "(validation) of each scene, the blocks training/pack.py uses")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX or .pt2 model (default: bundled)")
    parser.add_argument("--tile", type=int, default=None,
                        help="the model's tile side in pixels (default: the model's own, as floodsar predict)")
    parser.add_argument("--overlap", type=int, default=None,
                        help="context pixels per tile side (default: the model's own, as floodsar predict)")
    parser.add_argument("--real", type=Path, default=None,
                        help=f"without FOLDER: the shared real-data folder, its Sen1Floods11 and STAC chips "
                             f"(default: ${ENVIRONMENT_VARIABLE}, else ../shared/data/real)")
    parser.add_argument("--json", type=Path, help="also write all scores to this JSON file")
    parser.add_argument("--no-per-chip", action="store_true", help="print only the summary table")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train evaluate-real``: model, engine Otsu and per-chip Otsu on labelled real Sentinel-1."""
    if (args.folder is None) != (args.layout is None):
        raise FloodSarError("give a FOLDER and its --layout together (or neither, for the shared real chips).")
    real = args.real or real_data_dir()
    with tempfile.TemporaryDirectory(prefix="floodsar-layout-") as workdir:
        if args.folder is not None:
            chips, notes = find_layout_chips(args.layout, args.folder, Path(workdir), args.etci_block)
        else:
            chips, notes = find_chips(real), []
        results, skipped = evaluate(chips, args.model, progress=not args.quiet, tile=args.tile,
                                      overlap=args.overlap)
    skipped = [*notes, *skipped]
    print(markdown(results, skipped, per_chip=not args.no_per_chip))
    removed = removed_by_pre(results)
    if removed:
        print(f"\nChange detection removed {removed['pixels']:,} post-only water pixels (water on both dates); "
              f"the labels call {_pct(removed['labelled_flooded_share'])}% of them flooded.")
    if args.json:
        document = as_json(results, skipped, layout=args.layout or "real", model=str(args.model),
                           folder=str(args.folder or real), etci_block=args.etci_block, tile=args.tile,
                           overlap=args.overlap)
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(json_ready(document), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.evaluate_real ...
    from .cli import main

    sys.exit(main(["evaluate-real", *sys.argv[1:]]))
