"""Edge-weighted cross entropy on hand-made labels."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from floodsar.training.losses import edge_weighted_cross_entropy, edge_weights


def _half_water(width: int = 8) -> torch.Tensor:
    """[1, 4, width] label: water in the left half, land in the right half."""
    label = torch.zeros(1, 4, width, dtype=torch.long)
    label[..., : width // 2] = 1
    return label


def test_edge_band_has_the_configured_width_on_both_sides() -> None:
    label = _half_water()
    one = edge_weights(label, width=1, factor=5.0)[0, 0]
    assert one.tolist() == [1, 1, 1, 5, 5, 1, 1, 1]
    two = edge_weights(label, width=2, factor=3.0)[0, 0]
    assert two.tolist() == [1, 1, 3, 3, 3, 3, 1, 1]
    assert (edge_weights(label, width=0, factor=3.0) == 1).all()


def test_ignored_pixels_weigh_nothing_and_are_no_class() -> None:
    label = _half_water()
    label[..., 4] = -1  # the first land column unknown: water and land are now 2 px apart
    assert edge_weights(label, width=1, factor=5.0)[0, 0].tolist() == [1, 1, 1, 1, 0, 1, 1, 1]
    assert edge_weights(label, width=2, factor=5.0)[0, 0].tolist() == [1, 1, 1, 5, 0, 5, 1, 1]


def test_uniform_label_has_no_edges() -> None:
    assert (edge_weights(torch.ones(2, 5, 5), width=2, factor=4.0) == 1).all()


def test_equals_cross_entropy_without_edge_weight() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 6, 6)
    label = torch.randint(-1, 2, (2, 6, 6))
    ours = edge_weighted_cross_entropy(logits, label, width=2, factor=1.0)
    reference = F.cross_entropy(logits, label, ignore_index=-1)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)


def test_edge_pixels_count_factor_times() -> None:
    label = _half_water()
    logits = torch.zeros(1, 2, 4, 8)
    logits[:, 1, :, 3] = 2.0  # only the water edge column is not at chance
    loss = edge_weighted_cross_entropy(logits, label, width=1, factor=5.0)
    chance, confident = math.log(2), math.log(1 + math.exp(-2.0))
    expected = (4 * (3 * chance) + 4 * 5 * confident + 4 * 5 * chance + 4 * 3 * chance) / (4 * (6 + 10))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_soft_targets_and_nothing_valid() -> None:
    logits = torch.zeros(1, 2, 3, 3, requires_grad=True)
    soft = torch.full((1, 3, 3), 0.5)
    assert edge_weighted_cross_entropy(logits, soft).item() == pytest.approx(math.log(2))
    none = edge_weighted_cross_entropy(logits, torch.full((1, 3, 3), -1), width=1, factor=2.0)
    none.backward()
    assert none.item() == 0 and logits.grad is not None and (logits.grad == 0).all()
    with pytest.raises(ValueError, match="do not match"):
        edge_weighted_cross_entropy(logits, torch.zeros(1, 4, 4))
