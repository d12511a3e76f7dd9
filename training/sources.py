"""What a training stage reads: its data root, the training sources (dataset + loss weight), the
validation split and endless shuffled batches."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from ..engine.errors import FloodSarError
from .config import RunConfig
from .datasets import PairedNdwi, RandomCropFlip, Sen1Floods11Hand, Sen1Floods11Weak, additional_folder
from .pseudo_label import PseudoLabelled

#: A training source: a dataset and the weight of its batches in the loss.
Source = tuple[Dataset, float]


def data_root(config: RunConfig) -> Path:
    """The data folder of a run (the one that contains v1.1/), checked."""
    if not config.data.root:
        raise FloodSarError(f"{config.source}: no data folder; pass --data ROOT (the folder containing v1.1/).")
    root = Path(config.data.root)
    if not (root / "v1.1").is_dir():
        raise FloodSarError(f"{root}: has no v1.1 folder; --data must be the folder that contains Sen1Floods11's "
                            "v1.1/ (or generated data: floodsar-train synthetic --out ROOT).")
    return root


def pseudo_dir(config: RunConfig, folder: str) -> Path:
    """Where the teacher's labels of one paired folder go (inside the student's run folder)."""
    return config.out_dir / "pseudo" / Path(folder).name


def training_sources(config: RunConfig, root: Path) -> list[Source]:
    """(dataset, loss weight) of each source; every step draws one batch from each. None is empty."""
    data = config.data
    transform = RandomCropFlip(data.crop)
    distill = config.distill
    if distill is not None:
        pseudo = [PseudoLabelled(additional_folder(root, f), pseudo_dir(config, f), distill.targets,
                                 distill.confidence, transform) for f in distill.pseudo]
        sources = [(Sen1Floods11Hand(root, "train", "s1", transform), distill.hand_weight),
                   (ConcatDataset(pseudo), distill.pseudo_weight)]
    else:
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
        sources = [(ConcatDataset(parts), 1.0)]
    if any(not len(dataset) for dataset, _ in sources):
        raise FloodSarError(f"{root}: a training source of {config.source} has no chips; check --data.")
    return sources


def validation_set(config: RunConfig, root: Path) -> Sen1Floods11Hand:
    """The hand-labelled split that picks the best checkpoint (not empty)."""
    valid = Sen1Floods11Hand(root, config.data.valid_split, config.data.inputs)
    if not len(valid):
        raise FloodSarError(f"{root}: the {config.data.valid_split} split is empty; it is needed to pick the "
                            "best checkpoint.")
    return valid


def steps_per_epoch(config: RunConfig, sources: list[Source]) -> int:
    """``optim.steps_per_epoch``, or (0) one pass over the first source."""
    first = len(sources[0][0])
    return config.optim.steps_per_epoch or first // min(config.optim.batch_size, first)


def batches(dataset: Dataset, config: RunConfig, epoch: int) -> Iterator[dict]:
    """Endless shuffled batches (the shuffle order depends only on seed and epoch, so resuming repeats it)."""
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    loader = DataLoader(dataset, batch_size=min(config.optim.batch_size, len(dataset)), shuffle=True,
                        drop_last=True, num_workers=config.data.workers, generator=generator,
                        pin_memory=torch.cuda.is_available())
    while True:
        yield from loader
