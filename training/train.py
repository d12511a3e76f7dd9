"""Training stages: one command each, driven by a config file (training/configs/*.toml).

    python -m floodsar.training.train --config training/configs/s1_hand.toml --data ROOT

Stages (by config): S1 supervised on hand, weak or weak + additional labels; the S1+S2 teacher on
hand labels (``data.inputs = "s1s2"``); the distillation student (a ``[distill]`` section: the
teacher labels the paired folders, then the S1 student trains on hand labels + teacher labels).

A run writes to ``<out>/seed<seed>/``: ``last.pt`` after every epoch (``--resume`` continues from
it), ``best.pt`` (highest water IoU on the validation split) and ``log.jsonl`` (loss and
validation scores per epoch).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from ..engine.errors import FloodSarError
from ..engine.metadata import ModelMetadata
from ..engine.raster_io import atomic_output
from .config import RunConfig, load_config
from .datasets import (S1_NORMALISATION, PairedNdwi, RandomCropFlip, Sen1Floods11Hand, Sen1Floods11Weak,
                       additional_folder, normalisation_record)
from .evaluate import evaluate, torch_predictor
from .losses import edge_weighted_cross_entropy

LAST, BEST, LOG = "last.pt", "best.pt", "log.jsonl"


def pick_device(device: str = "auto") -> torch.device:
    """CUDA when asked for or (auto) available, else CPU."""
    if device == "cuda" and not torch.cuda.is_available():
        raise FloodSarError("--device cuda: PyTorch sees no CUDA GPU; use --device cpu or auto.")
    return torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def data_root(config: RunConfig) -> Path:
    if not config.data.root:
        raise FloodSarError(f"{config.source}: no data folder; pass --data ROOT (the folder containing v1.1/).")
    root = Path(config.data.root)
    if not (root / "v1.1").is_dir():
        raise FloodSarError(f"{root}: has no v1.1 folder; --data must be the folder that contains Sen1Floods11's "
                            "v1.1/ (or generated data: python -m floodsar.training.synthetic --out ROOT).")
    return root


def pseudo_dir(config: RunConfig, folder: str) -> Path:
    return config.out_dir / "pseudo" / Path(folder).name


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


def training_sources(config: RunConfig, root: Path) -> list[tuple[Dataset, float]]:
    """(dataset, loss weight) of each source; every step draws one batch from each."""
    data = config.data
    transform = RandomCropFlip(data.crop)
    distill = config.distill
    if distill is not None:
        from .pseudo_label import PseudoLabelled

        pseudo = [PseudoLabelled(additional_folder(root, f), pseudo_dir(config, f), distill.targets,
                                 distill.confidence, transform) for f in distill.pseudo]
        return [(Sen1Floods11Hand(root, "train", "s1", transform), distill.hand_weight),
                (ConcatDataset(pseudo), distill.pseudo_weight)]
    parts: list[Dataset] = []
    for source in data.train:
        if source == "hand":
            parts.append(Sen1Floods11Hand(root, "train", data.inputs, transform))
        elif source == "weak":
            if data.inputs != "s1":
                raise FloodSarError(f"{config.source}: the weakly labelled set has no Sentinel-2 images; "
                                    "train on it with data.inputs = \"s1\".")
            parts.append(Sen1Floods11Weak(root, data.weak_label, transform))
        else:
            parts.append(PairedNdwi(additional_folder(root, data.additional), data.inputs, transform))
    return [(ConcatDataset(parts), 1.0)]


def _batches(dataset: Dataset, config: RunConfig, epoch: int) -> Iterator[dict]:
    """Endless shuffled batches (the shuffle order depends only on seed and epoch, so resuming repeats it)."""
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    loader = DataLoader(dataset, batch_size=min(config.optim.batch_size, len(dataset)), shuffle=True,
                        drop_last=True, num_workers=config.data.workers, generator=generator,
                        pin_memory=torch.cuda.is_available())
    while True:
        yield from loader


def student_metadata(config: RunConfig, valid_iou: float, epoch: int) -> ModelMetadata:
    """The engine metadata of an S1 model: the shared normalisation plus where it came from."""
    encoder = config.model.get("encoder", "xception65")
    sources = "hand + teacher labels" if config.distill else " + ".join(config.data.train)
    return dataclasses.replace(
        S1_NORMALISATION, name=f"floodsar-{config.name}", architecture=f"deeplabv3plus-{encoder}",
        training_data=f"Sen1Floods11-layout chips under {Path(config.data.root).name}/ ({sources})",
        provenance={"config": config.source, "run": config.name, "row": config.row, "seed": config.seed,
                    "epoch": epoch, "valid_iou": valid_iou})


def _save(path: Path, model: torch.nn.Module, model_config, metadata, **extra) -> None:
    from .model import save_checkpoint

    with atomic_output(path) as tmp:
        save_checkpoint(tmp, model, model_config, metadata=metadata, **extra)


def _log(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def train(config: RunConfig, resume: bool = False, progress: bool = True, overrides: Optional[dict] = None) -> Path:
    """Run (or resume) one stage; returns the best checkpoint's path."""
    from tqdm import tqdm

    from .model import ModelConfig, build_model, load_model

    root = data_root(config)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    if config.distill is not None:
        from .pseudo_label import label_folder

        teacher = resolve_teacher(config, overrides or {}, progress)
        for folder in config.distill.pseudo:
            label_folder(teacher, additional_folder(root, folder), pseudo_dir(config, folder), config.device, progress)
    sources = training_sources(config, root)
    for dataset, _ in sources:
        if not len(dataset):
            raise FloodSarError(f"{root}: a training source of {config.source} has no chips; check --data.")
    valid = Sen1Floods11Hand(root, config.data.valid_split, config.data.inputs)
    if not len(valid):
        raise FloodSarError(f"{root}: the {config.data.valid_split} split is empty; it is needed to pick the "
                            "best checkpoint.")

    try:
        model_config = ModelConfig(**config.model, in_channels=config.in_channels)
    except (TypeError, ValueError) as exc:
        raise FloodSarError(f"{config.source}: [model] {exc}; fix the section.") from exc
    seed_everything(config.seed)  # the initial weights depend on the seed only
    model = build_model(model_config)
    optim = config.optim
    steps = optim.steps_per_epoch or len(sources[0][0]) // min(optim.batch_size, len(sources[0][0]))
    total_steps = optim.epochs * steps
    start_epoch, best_iou = 0, -1.0
    state = None
    if resume and (out / LAST).is_file():
        model, model_config, state = load_model(out / LAST)
        start_epoch, best_iou = state["epoch"], state["best_iou"]
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - step / total_steps) ** 0.9)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    autocast = device.type == "cuda" and optim.amp
    record_extra = {"normalisation": normalisation_record(), "run_config": dataclasses.asdict(config)}
    is_student = config.data.inputs == "s1"

    for epoch in range(start_epoch, optim.epochs):
        seed_everything(config.seed * 1_000 + epoch)
        batches = [_batches(dataset, config, epoch) for dataset, _ in sources]
        model.train()
        started, running = time.time(), np.zeros(len(sources))
        bar = tqdm(range(steps), desc=f"{config.name} epoch {epoch + 1}/{optim.epochs}", unit="step",
                   disable=not progress, leave=False)
        for step in bar:
            losses = []
            for stream in batches:
                batch = next(stream)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(batch["image"].to(device, non_blocking=True))
                losses.append(edge_weighted_cross_entropy(logits, batch["mask"].to(device), config.loss.edge_width,
                                                          config.loss.edge_factor))
            loss = sum(weight * part for (_, weight), part in zip(sources, losses))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += [part.item() for part in losses]
            bar.set_postfix(loss=f"{loss.item():.4f}")
        scores = evaluate(torch_predictor(model), valid).total
        valid_iou = 0.0 if np.isnan(scores.iou) else scores.iou
        record = {"epoch": epoch + 1, "step": (epoch + 1) * steps, "loss": float(running.sum() / steps),
                  "source_losses": (running / steps).tolist(), "lr": scheduler.get_last_lr()[0],
                  "valid_iou": valid_iou, "valid_precision": scores.precision, "valid_recall": scores.recall,
                  "seconds": round(time.time() - started, 2)}
        _log(out / LOG, record)
        if progress:
            print(f"{config.name} epoch {epoch + 1}: loss {record['loss']:.4f}, valid water IoU "
                  f"{100 * valid_iou:.2f}", file=sys.stderr)
        metadata = student_metadata(config, valid_iou, epoch + 1) if is_student else None
        if valid_iou > best_iou:
            best_iou = valid_iou
            _save(out / BEST, model, model_config, metadata, epoch=epoch + 1, best_iou=best_iou, **record_extra)
        _save(out / LAST, model, model_config, metadata, epoch=epoch + 1, best_iou=best_iou,
              optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), **record_extra)
    return out / BEST


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.train",
                                     description="Train one stage of FloodSAR's cross-modal distillation.")
    parser.add_argument("--config", required=True, type=Path, help="a training/configs/*.toml file")
    parser.add_argument("--data", help="folder containing v1.1/ (overrides data.root)")
    parser.add_argument("--seed", type=int, help="random seed (overrides run.seed)")
    parser.add_argument("--out", help="output folder (overrides run.out; the run goes to OUT/seed<seed>)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="overrides run.device")
    parser.add_argument("--epochs", type=int, help="overrides optim.epochs")
    parser.add_argument("--steps", type=int, help="steps per epoch (overrides optim.steps_per_epoch)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/seed<seed>/last.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides = {"data_root": args.data, "seed": args.seed, "out": args.out, "device": args.device,
                 "epochs": args.epochs, "steps": args.steps}
    try:
        config = load_config(args.config).with_overrides(**overrides)
        best = train(config, resume=args.resume, progress=not args.quiet, overrides=overrides)
    except FloodSarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
