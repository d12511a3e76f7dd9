"""Training one stage of cross-modal distillation, driven by a config file (training/configs/*.toml).

    floodsar-train train --config training/configs/s1_hand.toml --data ROOT

Stages (by config): S1 supervised on hand, weak or weak + additional labels; the S1+S2 teacher on
hand labels (``data.inputs = "s1s2"``); the distillation student (a ``[distill]`` section: the
teacher labels the paired folders, then the S1 student trains on hand labels + teacher labels).

:func:`train` reads as the stage does, one part each: the teacher and its labels
(:func:`label_with_teacher`), the sources (:mod:`.sources`), a fresh or resumed model
(:func:`start_or_resume`), the loop (:func:`train_epoch`), validation (:func:`validate`), the log
(:func:`log_epoch`) and the checkpoints (:func:`save_epoch`, format in :mod:`.checkpoint`).
A run writes to ``<out>/seed<seed>/``: ``last.pt``, ``best.pt`` and ``log.jsonl``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..engine.errors import FloodSarError
from ..engine.metadata import ModelMetadata
from .checkpoint import BEST, LAST, LOG, load_checkpoint, save_checkpoint
from .config import RunConfig, load_config
from .datasets import S1_NORMALISATION, Sen1Floods11Hand, additional_folder, normalisation_record
from .devices import pick_device
from .evaluate import Scores, evaluate, torch_predictor
from .losses import edge_weighted_cross_entropy
from .network import DeepLabV3Plus, build_model
from .pseudo_label import label_folder
from .sources import Source, batches, data_root, pseudo_dir, steps_per_epoch, training_sources, validation_set


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- the teacher and its labels -----------------------------------------------------------------

def resolve_teacher(config: RunConfig, overrides: dict, progress: bool) -> Path:
    """The teacher checkpoint of a student config.

    A teacher config (.toml) is trained first, or resumed, or reused when finished: in its own
    ``run.out``, or in ``<out>/teacher`` when the student's output folder was overridden (--out).
    """
    teacher = Path(config.distill.teacher)
    if teacher.suffix == ".toml":
        out = overrides.get("out")  # a student moved elsewhere keeps its teacher beside it
        teacher_config = load_config(teacher).with_overrides(
            **{**overrides, "seed": config.seed, "data_root": config.data.root, "device": config.device,
               "out": str(Path(out) / "teacher") if out else None})
        return train(teacher_config, resume=True, progress=progress)
    if not teacher.is_file():
        raise FloodSarError(f"{teacher}: teacher checkpoint not found; train the teacher stage first "
                            "(training/configs/teacher.toml) or point distill.teacher at its best.pt.")
    return teacher


def label_with_teacher(config: RunConfig, root: Path, overrides: dict, progress: bool) -> None:
    """Stage 2a of distillation: the teacher labels every paired folder the student learns from."""
    teacher = resolve_teacher(config, overrides, progress)
    for folder in config.distill.pseudo:
        label_folder(teacher, additional_folder(root, folder), pseudo_dir(config, folder), config.device, progress)


# -- a fresh or resumed model -------------------------------------------------------------------

@dataclass
class TrainingState:
    """What a run carries from epoch to epoch (and what ``last.pt`` restores)."""

    model: DeepLabV3Plus
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    epoch: int = 0  # epochs done
    best_iou: float = -1.0


def start_or_resume(config: RunConfig, total_steps: int, device: torch.device, resume: bool) -> TrainingState:
    """A freshly initialised model (weights depend on the seed only), or the one in ``last.pt`` with its
    optimiser, schedule (polynomial decay, power 0.9), epoch and best score when ``resume``."""
    seed_everything(config.seed)
    model, saved = build_model(config.model), None
    if resume and (config.out_dir / LAST).is_file():
        model, _, saved = load_checkpoint(config.out_dir / LAST)
    model.to(device)
    optim = config.optim
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - step / total_steps) ** 0.9)
    if saved is None:
        return TrainingState(model, optimizer, scheduler)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return TrainingState(model, optimizer, scheduler, saved["epoch"], saved["best_iou"])


# -- the loop, validation, log and checkpoints --------------------------------------------------

def train_epoch(state: TrainingState, config: RunConfig, sources: list[Source], steps: int,
                device: torch.device, progress: bool) -> np.ndarray:
    """One epoch of ``steps`` steps, each on one batch of every source; returns each source's mean loss."""
    from tqdm import tqdm

    epoch = state.epoch
    seed_everything(config.seed * 1_000 + epoch)
    streams = [batches(dataset, config, epoch) for dataset, _ in sources]
    autocast = device.type == "cuda" and config.optim.amp
    state.model.train()
    running = np.zeros(len(sources))
    bar = tqdm(range(steps), desc=f"{config.name} epoch {epoch + 1}/{config.optim.epochs}", unit="step",
               disable=not progress, leave=False)
    for _ in bar:
        losses = []
        for stream in streams:
            batch = next(stream)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = state.model(batch["image"].to(device, non_blocking=True))
            losses.append(edge_weighted_cross_entropy(logits, batch["mask"].to(device), config.loss.edge_width,
                                                      config.loss.edge_factor))
        loss = sum(weight * part for (_, weight), part in zip(sources, losses))
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        running += [part.item() for part in losses]
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return running / steps


def validate(model: DeepLabV3Plus, valid: Sen1Floods11Hand) -> Scores:
    """Water scores of the model on the validation split (over all valid pixels)."""
    return evaluate(torch_predictor(model), valid).total


def log_epoch(config: RunConfig, state: TrainingState, steps: int, losses: np.ndarray, scores: Scores,
              seconds: float, progress: bool) -> dict:
    """Append the epoch's record to ``log.jsonl`` (and say it on stderr); returns the record."""
    valid_iou = 0.0 if np.isnan(scores.iou) else scores.iou
    record = {"epoch": state.epoch, "step": state.epoch * steps, "loss": float(losses.sum()),
              "source_losses": losses.tolist(), "lr": state.scheduler.get_last_lr()[0],
              "valid_iou": valid_iou, "valid_precision": scores.precision, "valid_recall": scores.recall,
              "seconds": round(seconds, 2)}
    with (config.out_dir / LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    if progress:
        print(f"{config.name} epoch {state.epoch}: loss {record['loss']:.4f}, valid water IoU "
              f"{100 * valid_iou:.2f}", file=sys.stderr)
    return record


def student_metadata(config: RunConfig, valid_iou: float, epoch: int) -> ModelMetadata:
    """The engine metadata of an S1 model: the shared normalisation plus where it came from."""
    sources = "hand + teacher labels" if config.distill else " + ".join(config.data.train)
    return dataclasses.replace(
        S1_NORMALISATION, name=f"floodsar-{config.name}", architecture=f"deeplabv3plus-{config.model.encoder}",
        training_data=f"Sen1Floods11-layout chips under {Path(config.data.root).name}/ ({sources})",
        provenance={"config": config.source, "run": config.name, "row": config.row, "seed": config.seed,
                    "epoch": epoch, "valid_iou": valid_iou})


def save_epoch(config: RunConfig, state: TrainingState, valid_iou: float) -> None:
    """``best.pt`` when the validation IoU is the best so far, and ``last.pt`` (with the optimiser) always."""
    metadata = student_metadata(config, valid_iou, state.epoch) if config.data.inputs == "s1" else None
    extra = {"normalisation": normalisation_record(), "run_config": dataclasses.asdict(config)}
    if valid_iou > state.best_iou:
        state.best_iou = valid_iou
        save_checkpoint(config.out_dir / BEST, state.model, config.model, metadata, epoch=state.epoch,
                        best_iou=state.best_iou, **extra)
    save_checkpoint(config.out_dir / LAST, state.model, config.model, metadata, epoch=state.epoch,
                    best_iou=state.best_iou, optimizer=state.optimizer.state_dict(),
                    scheduler=state.scheduler.state_dict(), **extra)


def train(config: RunConfig, resume: bool = False, progress: bool = True, overrides: Optional[dict] = None) -> Path:
    """Run (or resume) one stage; returns the best checkpoint's path."""
    root = data_root(config)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    if config.distill is not None:
        label_with_teacher(config, root, overrides or {}, progress)
    sources = training_sources(config, root)
    valid = validation_set(config, root)
    steps = steps_per_epoch(config, sources)
    state = start_or_resume(config, config.optim.epochs * steps, device, resume)
    while state.epoch < config.optim.epochs:
        started = time.time()
        losses = train_epoch(state, config, sources, steps, device, progress)
        state.epoch += 1
        scores = validate(state.model, valid)
        record = log_epoch(config, state, steps, losses, scores, time.time() - started, progress)
        save_epoch(config, state, record["valid_iou"])
    return config.out_dir / BEST


# -- the command --------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="a training/configs/*.toml file")
    parser.add_argument("--data", help="folder containing v1.1/ (overrides data.root)")
    parser.add_argument("--seed", type=int, help="random seed (overrides run.seed)")
    parser.add_argument("--out", help="output folder (overrides run.out; the run goes to OUT/seed<seed>)")
    parser.add_argument("--epochs", type=int, help="overrides optim.epochs")
    parser.add_argument("--steps", type=int, help="steps per epoch (overrides optim.steps_per_epoch)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/seed<seed>/last.pt")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train train``: train one stage; prints the best checkpoint's path."""
    overrides = {"data_root": args.data, "seed": args.seed, "out": args.out, "device": args.device,
                 "epochs": args.epochs, "steps": args.steps}
    config = load_config(args.config).with_overrides(**overrides)
    print(train(config, resume=args.resume, progress=not args.quiet, overrides=overrides))
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.train ...
    from .cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
