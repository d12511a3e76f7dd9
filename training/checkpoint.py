"""Training checkpoints: the one file format shared by training, pseudo-labelling, evaluation and export.

A checkpoint is a ``torch.save``'d dict with

- ``model_config``: ``dataclasses.asdict(ModelConfig)`` (what :func:`.network.build_model` builds)
- ``state_dict``: the model's ``state_dict()`` (CPU tensors)
- ``metadata``: ``ModelMetadata.to_json()`` for a model the engine can run (an S1 student), or None
- anything else the trainer adds (``epoch``, ``optimizer``, ``scheduler``, ``best_iou``, ...).

A run folder holds ``last.pt`` (written after every epoch; ``--resume`` continues from it),
``best.pt`` (highest validation water IoU) and ``log.jsonl``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..engine.errors import FloodSarError
from ..engine.metadata import ModelMetadata
from ..engine.safe_write import atomic_output
from .network import DeepLabV3Plus, ModelConfig, first_line

LAST, BEST, LOG = "last.pt", "best.pt", "log.jsonl"


def save_checkpoint(path: str | Path, model: nn.Module, config: ModelConfig,
                    metadata: Optional[ModelMetadata] = None, **extra: Any) -> None:
    """Write a checkpoint (written beside, then renamed); ``extra`` entries are stored as given."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    with atomic_output(Path(path)) as tmp:
        torch.save({"model_config": dataclasses.asdict(config), "state_dict": state,
                    "metadata": metadata.to_json() if metadata is not None else None, **extra}, tmp)


def load_checkpoint(path: str | Path) -> tuple[DeepLabV3Plus, ModelConfig, dict]:
    """(model on CPU in eval mode, its config, the whole checkpoint dict); FloodSarError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise FloodSarError(f"{path}: checkpoint not found; check the path.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        config = ModelConfig(**{**checkpoint["model_config"], "encoder_weights": None})
        model = DeepLabV3Plus(config)
        model.load_state_dict(checkpoint["state_dict"])
    except Exception as exc:  # torch.load and load_state_dict raise many types for a bad file
        raise FloodSarError(f"{path}: not a FloodSAR training checkpoint ({first_line(exc)}); "
                            "use a best.pt or last.pt written by floodsar-train train.") from exc
    return model.eval(), config, checkpoint
