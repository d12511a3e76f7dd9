"""Evaluation: water IoU over all valid pixels of a split (the paper's metric), per-chip IoU, precision, recall.

A pixel counts when its label is not -1 and the input has data there. Three predictors:
a training checkpoint (PyTorch), an exported ONNX model run through the engine
(:func:`floodsar.engine.models.load_model`, normalised with the model's own metadata), and the
engine's per-chip Otsu threshold on VH (the paper's baseline row).

    floodsar-train evaluate --data ROOT --split test --checkpoint runs/x/seed0/best.pt
    floodsar-train evaluate --data ROOT --split test --onnx model.onnx
    floodsar-train evaluate --data ROOT --split test --otsu
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..engine.errors import FloodSarError
from .checkpoint import load_checkpoint
from .datasets import IGNORE_INDEX, Chip, ChipDataset, Sen1Floods11Hand, read_s1
from .devices import pick_device
from .network import water_probability

#: A predictor maps (chip files, dataset sample) to a bool water map [H, W].
Predictor = Callable[[Chip, dict], np.ndarray]


@dataclass
class Scores:
    """Confusion counts of the water class over valid pixels."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "Scores") -> "Scores":
        return Scores(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @staticmethod
    def _ratio(num: int, den: int) -> float:
        return num / den if den else math.nan

    @property
    def iou(self) -> float:
        """Water IoU; NaN when there is no water in label nor prediction."""
        return self._ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def precision(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self._ratio(self.tp, self.tp + self.fn)

    def summary(self) -> dict:
        return {**asdict(self), "iou": self.iou, "precision": self.precision, "recall": self.recall}


def confusion(water: np.ndarray, label: np.ndarray, valid: Optional[np.ndarray] = None) -> Scores:
    """Scores of a bool prediction against a 1/0/-1 label, over pixels labelled and ``valid``."""
    counted = np.asarray(label) != IGNORE_INDEX
    if valid is not None:
        counted &= np.asarray(valid, bool)
    water, truth = np.asarray(water, bool)[counted], np.asarray(label)[counted] == 1
    tp = int(np.count_nonzero(water & truth))
    fp = int(np.count_nonzero(water & ~truth))
    fn = int(np.count_nonzero(~water & truth))
    return Scores(tp, fp, fn, int(truth.size - tp - fp - fn))


@dataclass
class Evaluation:
    total: Scores
    per_chip: list[tuple[str, Scores]]

    @property
    def mean_chip_iou(self) -> float:
        values = [s.iou for _, s in self.per_chip if not math.isnan(s.iou)]
        return float(np.mean(values)) if values else math.nan


def evaluate(predict: Predictor, dataset: ChipDataset, progress: bool = False) -> Evaluation:
    """Run ``predict`` on every chip of ``dataset`` (no transform) and accumulate the scores."""
    from tqdm import tqdm

    total, per_chip = Scores(), []
    for index in tqdm(range(len(dataset)), desc="evaluating", unit="chip", disable=not progress):
        chip, sample = dataset.chips[index], dataset[index]
        scores = confusion(predict(chip, sample), sample["mask"].numpy(), sample["valid"].numpy())
        total += scores
        per_chip.append((chip.name, scores))
    return Evaluation(total, per_chip)


def torch_predictor(model: torch.nn.Module, threshold: float = 0.5) -> Predictor:
    """Predictor from a model in memory (the dataset's normalised image)."""
    device = next(model.parameters()).device

    def predict(chip: Chip, sample: dict) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            probability = water_probability(model, sample["image"][None].to(device))[0]
        return probability.cpu().numpy() >= threshold

    return predict


def checkpoint_predictor(path: Path, device: str = "auto") -> tuple[Predictor, str]:
    """(predictor, inputs 's1' or 's1s2') of a training checkpoint."""
    model, config, _ = load_checkpoint(path)
    model.to(pick_device(device))
    inputs = "s1s2" if config.in_channels > 2 else "s1"
    return torch_predictor(model), inputs


def onnx_predictor(path: Path, device: str = "auto") -> Predictor:
    """Predictor running an exported model through the engine (its metadata's normalisation and threshold)."""
    from ..engine.models import load_model
    from ..engine.scene_statistics import SceneStatistics

    model = load_model(path, "onnx", device)
    meta = model.metadata
    mean = np.asarray(meta.mean, np.float32)[:, None, None]

    def predict(chip: Chip, sample: dict) -> np.ndarray:
        db, valid = read_s1(chip.s1)
        db = db[model.band_indices]
        height, width = valid.shape
        pad = ((0, 0), (0, -height % meta.stride), (0, -width % meta.stride))
        scene = SceneStatistics.of_array(db, valid) if meta.normalisation == "scene" else None
        batch = meta.normalise(np.pad(np.where(valid, db, mean), pad, mode="edge"), scene)[None]
        return model.predict(batch)[0, :height, :width] >= meta.threshold

    return predict


def otsu_predictor(chip: Chip, sample: dict) -> np.ndarray:
    """The engine's per-chip Otsu threshold on VH dB (the paper's baseline)."""
    from ..engine.otsu import otsu_water

    db, valid = read_s1(chip.s1)
    mask, _ = otsu_water(db[1], valid)
    return mask == 1


def report(evaluation: Evaluation, name: str) -> str:
    """Human-readable summary lines."""
    t = evaluation.total
    pixels = t.tp + t.fp + t.fn + t.tn
    return (f"{name}: water IoU {100 * t.iou:.2f} (all valid pixels, {len(evaluation.per_chip)} chips, "
            f"{pixels} px), precision {100 * t.precision:.2f}, recall {100 * t.recall:.2f}, "
            f"mean per-chip IoU {100 * evaluation.mean_chip_iou:.2f}")


def write_per_chip(evaluation: Evaluation, path: Path) -> None:
    """Per-chip scores as CSV (written beside, then renamed)."""
    from ..engine.safe_write import atomic_output

    lines = ["chip,tp,fp,fn,tn,iou,precision,recall"]
    for name, s in evaluation.per_chip:
        lines.append(f"{name},{s.tp},{s.fp},{s.fn},{s.tn},{s.iou:.6f},{s.precision:.6f},{s.recall:.6f}")
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="folder containing v1.1/")
    parser.add_argument("--split", default="test", help="train, valid, test or bolivia (default test)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="training checkpoint (.pt)")
    what.add_argument("--onnx", type=Path, help="exported model, run through the engine")
    what.add_argument("--otsu", action="store_true", help="the engine's per-chip Otsu on VH")
    parser.add_argument("--allow-missing", action="store_true",
                        help="evaluate the chips present and skip those missing (with a warning)")
    parser.add_argument("--per-chip", type=Path, help="write per-chip scores to this CSV")
    parser.add_argument("--json", type=Path, help="write the totals to this JSON file")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train evaluate``: water IoU of a model or of Otsu on a Sen1Floods11 split."""
    inputs = "s1"
    if args.checkpoint:
        predict, inputs = checkpoint_predictor(args.checkpoint, args.device)
        name = str(args.checkpoint)
    elif args.onnx:
        predict, name = onnx_predictor(args.onnx, args.device), str(args.onnx)
    else:
        predict, name = otsu_predictor, "Otsu (VH)"
    dataset = Sen1Floods11Hand(args.data, args.split, inputs, allow_missing=args.allow_missing)
    if not len(dataset):
        raise FloodSarError(f"{args.data}: the {args.split} split has no chip to evaluate.")
    evaluation = evaluate(predict, dataset, progress=not args.quiet)
    print(report(evaluation, name))
    if args.per_chip:
        write_per_chip(evaluation, args.per_chip)
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "model": name, **evaluation.total.summary(),
                                         "mean_chip_iou": evaluation.mean_chip_iou}, indent=2))
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.evaluate ...
    from .cli import main

    sys.exit(main(["evaluate", *sys.argv[1:]]))
