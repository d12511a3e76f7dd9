"""Cross entropy with extra weight on water/land edges; label -1 is ignored.

Targets are either int labels (1 water, 0 not water, -1 ignored) or float water probabilities
(the teacher's soft targets, -1 ignored); both go through the same soft cross entropy, which
equals the usual cross entropy for 0/1 targets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .datasets import IGNORE_INDEX


def edge_weights(target: torch.Tensor, width: int, factor: float) -> torch.Tensor:
    """Per-pixel weights [N, H, W]: ``factor`` within ``width`` px (chessboard distance) of the other class, else 1.

    A water pixel is on an edge when a land pixel lies within ``width`` pixels of it, and vice versa,
    so the weighted band is ``2 * width`` pixels wide. Ignored pixels weigh 0.
    """
    target = target.float()
    valid = target != IGNORE_INDEX
    weights = valid.float()
    if width <= 0 or factor == 1:
        return weights
    water = ((target >= 0.5) & valid).float()[:, None]
    land = ((target < 0.5) & valid).float()[:, None]
    size = 2 * width + 1
    near_water = F.max_pool2d(water, size, stride=1, padding=width)[:, 0] > 0
    near_land = F.max_pool2d(land, size, stride=1, padding=width)[:, 0] > 0
    edge = near_water & near_land & valid
    return torch.where(edge, torch.full_like(weights, factor), weights)


def edge_weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, width: int = 3,
                                factor: float = 2.0) -> torch.Tensor:
    """Weighted mean cross entropy of 2-class ``logits`` [N, 2, H, W] against ``target`` [N, H, W].

    Zero (with a gradient) when no pixel is valid.
    """
    if logits.shape[1] != 2 or logits.shape[-2:] != target.shape[-2:]:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(target.shape)}")
    weights = edge_weights(target, width, factor)
    probability = target.float().clamp(0.0, 1.0)
    log_p = F.log_softmax(logits.float(), dim=1)
    loss = -(probability * log_p[:, 1] + (1 - probability) * log_p[:, 0])
    return (weights * loss).sum() / weights.sum().clamp_min(1.0)

