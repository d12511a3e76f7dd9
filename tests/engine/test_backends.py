"""Backends and model loading: provider choice, both runtimes, batching, refusing bad models."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from floodsar.engine import models
from floodsar.engine.backends import OnnxBackend, TorchBackend, cpu_streams, select_providers
from floodsar.engine.errors import FloodSarError
from floodsar.engine.models import load_model, resolve_model_path
from floodsar.engine.prefetch import ordered_map

GPU_BUILD = ["AzureExecutionProvider", "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]


@pytest.mark.parametrize("device,available,expected", [
    ("auto", GPU_BUILD, ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("cuda", GPU_BUILD, ["TensorrtExecutionProvider", "CUDAExecutionProvider"]),
    ("cpu", GPU_BUILD, ["CPUExecutionProvider"]),
    ("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("auto", ["AzureExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
])
def test_provider_order_follows_the_device(device, available, expected):
    """Provider lists of GPU builds are given as data here: this machine has no GPU."""
    assert select_providers(device, available) == expected


def test_cuda_without_a_cuda_provider_is_a_clear_error():
    with pytest.raises(FloodSarError, match="device cuda.*no CUDA provider.*device cpu"):
        select_providers("cuda", ["AzureExecutionProvider", "CPUExecutionProvider"])


def test_onnx_backend_reports_the_provider_in_use(pointwise_model):
    backend = OnnxBackend(pointwise_model, "auto")
    assert backend.providers == backend.session.get_providers()
    assert backend.providers[0] in backend.description and backend.device in ("cpu", "cuda")


def test_device_cuda_fails_clearly_without_a_gpu(conv_model):
    import onnxruntime as ort
    import torch

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(FloodSarError, match="device cuda"):
            OnnxBackend(conv_model, "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(FloodSarError, match="device cuda.*no CUDA GPU"):
            TorchBackend(conv_model.with_suffix(".pt2"), "cuda", trusted_by_user=True)


@pytest.mark.parametrize("threads,expected", [(1, (1, 1)), (2, (2, 1)), (3, (2, 1)), (16, (2, 8))])
def test_cpu_threads_are_shared_out_between_two_batches_at_once(threads, expected):
    assert cpu_streams(threads) == expected


def test_batches_run_at_once_on_the_cpu_give_what_they_give_one_by_one(conv_model):
    model = load_model(conv_model, "onnx", "cpu", threads=2)
    assert model.streams == 2
    batches = [np.random.default_rng(seed).normal(size=(1, 2, 64, 96)).astype(np.float32) for seed in range(6)]
    at_once = [probability for _, probability in ordered_map(model.predict, batches, model.streams)]
    for batch, probability in zip(batches, at_once):
        np.testing.assert_array_equal(probability, model.predict(batch))


@pytest.mark.parametrize("kind", ["pointwise_model", "conv_model"])
def test_batched_and_single_tiles_agree(request, kind):
    model = load_model(request.getfixturevalue(kind))
    batch = np.random.default_rng(0).normal(size=(3, 2, 48, 80)).astype(np.float32)
    together = model.predict(batch)
    assert together.shape == (3, 48, 80) and together.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(model.predict(batch[i:i + 1])[0], together[i], atol=1e-6)


def test_torch_and_onnx_backends_agree(conv_model):
    onnx_model = load_model(conv_model, "onnx")
    torch_model = load_model(conv_model, "torch", trusted_by_user=True)  # the .pt2 twin beside the .onnx
    assert torch_model.path.suffix == ".pt2" and "torch" in torch_model.description
    assert torch_model.metadata == onnx_model.metadata
    batch = np.random.default_rng(1).normal(size=(2, 2, 64, 96)).astype(np.float32)
    np.testing.assert_allclose(torch_model.predict(batch), onnx_model.predict(batch), atol=1e-5)


def test_model_paths_resolve_per_backend(conv_model, pointwise_model):
    assert resolve_model_path(conv_model.with_suffix(".pt2"), "onnx") == conv_model
    with pytest.raises(FloodSarError, match=r"pointwise\.onnx.*no pointwise\.pt2.*backend onnx"):
        resolve_model_path(pointwise_model, "torch")
    with pytest.raises(FloodSarError, match="model file not found"):
        resolve_model_path(pointwise_model.with_name("missing.onnx"))


def test_default_model_is_found_or_explained(monkeypatch, tmp_path, pointwise_model):
    monkeypatch.setattr(models, "DEFAULT_MODEL", tmp_path / "resources" / "models" / "floodsar_s1.onnx")
    with pytest.raises(FloodSarError, match="no bundled model.*model PATH.*method otsu"):
        load_model(None)
    models.DEFAULT_MODEL.parent.mkdir(parents=True)
    shutil.copy(pointwise_model, models.DEFAULT_MODEL)
    assert load_model(None).metadata.name == "pointwise"


def test_default_model_location_is_inside_the_package(repo_root):
    assert models.DEFAULT_MODEL == repo_root / "resources" / "models" / "floodsar_s1.onnx"


@pytest.mark.parametrize("case,message", [
    ("corrupt", "not a usable ONNX model"),
    ("text", "not a usable ONNX model"),
    ("no_metadata", "no FloodSAR metadata"),
    ("bad_json", "invalid FloodSAR model metadata"),
    ("unknown_field", "invalid FloodSAR model metadata"),
    ("hh_hv_bands", r"wants bands \['HH', 'HV'\]"),
    ("one_channel", "takes 1 input bands but its metadata lists 2"),
])
def test_bad_onnx_models_are_refused(bad_models, case, message):
    path = bad_models[case]
    with pytest.raises(FloodSarError, match=message) as error:
        load_model(path)
    assert str(path) in str(error.value)


def test_bad_torch_models_are_refused(bad_models, tmp_path):
    with pytest.raises(FloodSarError, match="no FloodSAR metadata"):
        load_model(bad_models["torch_no_metadata"], "torch", trusted_by_user=True)
    corrupt = tmp_path / "corrupt.pt2"
    corrupt.write_bytes(bad_models["torch_no_metadata"].read_bytes()[:500])
    with pytest.raises(FloodSarError, match="not a usable torch.export model"):
        load_model(corrupt, "torch", trusted_by_user=True)
