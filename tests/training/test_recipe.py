"""The real-data recipe's pieces: pack quantisation, statistics-aware augmentation, calibration."""
from __future__ import annotations

import numpy as np
import torch

from floodsar.engine.metadata import ModelMetadata
from floodsar.engine.scene_statistics import SceneStatistics
from floodsar.training.pack import dequantise_db, quantise_db
from floodsar.training.recipe import augment_calibration, calibrate, fit_platt, model_input


def test_quantised_db_round_trip_within_a_tenth_of_a_db() -> None:
    rng = np.random.default_rng(0)
    db = rng.uniform(-39, 9, size=(2, 32, 32)).astype(np.float32)
    valid = rng.random((32, 32)) > 0.1
    back, back_valid = dequantise_db(quantise_db(db, valid))
    assert (back_valid == valid).all()
    assert np.abs(back[:, valid] - db[:, valid]).max() <= 0.1 + 1e-6
    assert np.isnan(back[:, ~valid]).all()


def test_calibration_augmentation_moves_known_scene_statistics_with_the_pixels() -> None:
    """Offset and contrast change the dB values and an ETCI block's statistics alike: the scene input stays put."""
    rng = np.random.default_rng(1)
    db = rng.normal(-14, 3, size=(2, 64, 64)).astype(np.float32)
    valid = np.ones((64, 64), bool)
    stats = SceneStatistics((-13.0, -19.0), (2.5, 3.0))
    meta = ModelMetadata(name="m", architecture="a", normalisation="scene")
    augmented, moved = augment_calibration(db, valid, stats, np.random.default_rng(3))
    assert np.abs(augmented - db).mean() > 0.3
    assert np.allclose(model_input(meta, augmented, valid, moved), model_input(meta, db, valid, stats), atol=1e-4)


def test_platt_scaling_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(2)
    logit = rng.normal(0, 3, 200_000)
    truth = rng.random(logit.size) < 1 / (1 + np.exp(-(0.5 * logit - 1.0)))
    a, b = fit_platt(logit, truth)
    assert abs(a - 0.5) < 0.05 and abs(b + 1.0) < 0.05


def test_calibration_is_folded_into_the_classifier() -> None:
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.classifier = torch.nn.Conv2d(3, 2, 1)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        logits = model.classifier(x)
    logit = (logits[:, 1] - logits[:, 0]).numpy()
    label = (logit > np.median(logit)).astype(np.int64)
    label[0, 0, :4] = 1 - label[0, 0, :4]  # a little noise so the fit is finite
    result = calibrate(model, logit, label, seed=0)
    with torch.no_grad():
        after = model.classifier(x)
    folded = (after[:, 1] - after[:, 0]).numpy()
    assert np.allclose(folded, result["platt_a"] * logit + result["platt_b"], atol=1e-4)
    assert 0 < result["threshold"] < 1
