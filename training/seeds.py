"""Repeat configurations over N seeds and print the paper's table (mean ± std) beside the paper's numbers.

    floodsar-train seeds --data ROOT --seeds 3 --otsu \
        training/configs/s1_hand.toml training/configs/s1_weak.toml \
        training/configs/s1_weak_additional.toml training/configs/distill.toml

Each config trains once per seed (``<out>/seed<k>/``; finished runs are resumed, not redone), its
best checkpoint is scored on the test split (water IoU over all valid pixels) and the row it
reproduces is taken from ``run.row``. Otsu is deterministic, so it runs once.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..engine.errors import FloodSarError
from .config import load_config
from .datasets import Sen1Floods11Hand
from .evaluate import checkpoint_predictor, evaluate, otsu_predictor
from .train import train

#: Row key -> (method, the paper's water IoU on the Sen1Floods11 hand-labelled test split).
PAPER_ROWS = {
    "otsu": ("Otsu thresholding (VH)", 54.58),
    "hand": ("S1 supervised, hand labels", 67.63),
    "weak": ("S1 supervised, weak labels", 67.76),
    "weak_additional": ("+ extra weakly labelled data", 68.94),
    "distillation": ("Cross-modal distillation", 71.91),
}


def format_table(results: dict[str, list[float]]) -> str:
    """Markdown table of water IoU (percent) per row in the paper's order: ours (mean ± std, n) vs the paper."""
    lines = ["| Method | Water IoU, ours (mean ± std) | Seeds | Paper |", "|---|---|---|---|"]
    for key, (method, paper) in PAPER_ROWS.items():
        if key not in results:
            continue
        values = [v for v in results[key] if not math.isnan(v)]
        if not values:
            ours = "n/a"
        elif len(values) == 1:
            ours = f"{values[0]:.2f}"
        else:
            ours = f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
        lines.append(f"| {method} | {ours} | {len(values)} | {paper:.2f} |")
    return "\n".join(lines)


def run_seeds(configs: Sequence[Path], seeds: Sequence[int], data: str, split: str = "test", otsu: bool = True,
              out_root: Optional[str] = None, overrides: Optional[dict] = None,
              progress: bool = True) -> dict[str, list[float]]:
    """Water IoU (percent) per paper row: each config trained (into ``out_root/<name>`` when given) and
    scored once per seed."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    test = Sen1Floods11Hand(data, split, "s1")
    if not len(test):
        raise FloodSarError(f"{data}: the {split} split has no chips to score.")
    results: dict[str, list[float]] = {}
    if otsu:
        results["otsu"] = [100 * evaluate(otsu_predictor, test).total.iou]
    for path in configs:
        base = load_config(path)
        if base.row not in PAPER_ROWS:
            raise FloodSarError(f"{path}: run.row must name a row of the paper's table "
                                f"({', '.join(PAPER_ROWS)}), not {base.row!r}.")
        out = str(Path(out_root) / base.name) if out_root else None
        for seed in seeds:
            config = base.with_overrides(**overrides, seed=seed, data_root=data, out=out)
            best = train(config, resume=True, progress=progress, overrides={**overrides, "out": out})
            predict, _ = checkpoint_predictor(best, config.device)
            results.setdefault(base.row, []).append(100 * evaluate(predict, test).total.iou)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="*", type=Path, help="training configs (each with run.row set)")
    parser.add_argument("--data", required=True, help="folder containing v1.1/")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ... N-1)")
    parser.add_argument("--split", default="test", help="split to score (default test, as in the paper)")
    parser.add_argument("--otsu", action="store_true", help="add the Otsu row (the engine's per-chip Otsu)")
    parser.add_argument("--out", help="put every run under this folder (OUT/<name>/seed<k>)")
    parser.add_argument("--epochs", type=int, help="overrides optim.epochs")
    parser.add_argument("--steps", type=int, help="overrides optim.steps_per_epoch")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train seeds``: train configs over several seeds and print the paper's table."""
    if not args.configs and not args.otsu:
        raise FloodSarError("nothing to do: give configs to train, or --otsu.")
    results = run_seeds(args.configs, range(args.seeds), args.data, args.split, args.otsu, args.out,
                        {"epochs": args.epochs, "steps": args.steps, "device": args.device}, not args.quiet)
    print(format_table(results))
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.seeds ...
    from .cli import main

    sys.exit(main(["seeds", *sys.argv[1:]]))
