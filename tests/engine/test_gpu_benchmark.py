"""The prepared GPU benchmark on this CPU-only machine: GPU parts skipped with reasons, the CPU baseline measured.

No GPU is available to the tests: the CUDA paths (PyTorch on CUDA, ONNX Runtime's CUDA and TensorRT providers)
cannot run here; what can be checked is that their absence is reported, and that the network rebuilt for an
older torch gives the bundled model's probabilities (on the CPU).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from floodsar.engine.benchmark import gpu
from floodsar.engine.models import DEFAULT_MODEL, load_model
from floodsar.engine.pipeline import DEFAULT_BATCH


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(gpu, "INFERENCE_S", 0.05)
    monkeypatch.setattr(gpu, "CPU_BATCHES", (1, 2))


def test_runs_on_a_cpu_only_machine_skipping_the_gpu_parts(conv_model, tmp_path, quick, capsys):
    results = gpu.run(tmp_path / "out", budget_s=120, scene=(300, 200), state=None, model=conv_model)
    assert results["environment"]["gpu"] is None and "CUDAExecutionProvider" not in results["environment"]["providers"]
    assert list(results["inference"]) == ["onnx CPU fp32"]  # no GPU configuration, no int8 twin beside conv3x3
    assert [row["batch"] for row in results["inference"]["onnx CPU fp32"]] == [1, 2]
    assert all(row["tiles_per_s"] > 0 for row in results["inference"]["onnx CPU fp32"])
    assert list(results["end_to_end"]) == [gpu.INSTANT, "onnx CPU fp32"]  # the engine's floor before the CPU
    scene = results["end_to_end"]["onnx CPU fp32"]
    assert scene["complete"] and scene["seconds"] > scene["model_s"] > 0 and 0 < scene["engine_share"] < 1
    assert scene["model_calls"] > 0 and scene["peak_rss_mb"] > 30
    assert scene["thread_cpu_s"]["main"] > 0  # the reader may end between two samples of so small a scene
    assert 0 < scene["first_batch_s"] < scene["seconds"] and 0 < scene["after_tiles_s"] < scene["seconds"]
    instant = results["end_to_end"][gpu.INSTANT]
    assert instant["complete"] and instant["model_calls"] > 0 and instant["batch"] == DEFAULT_BATCH["cuda"]
    written = json.loads((tmp_path / "out" / "gpu_benchmark.json").read_text())
    assert written["end_to_end"].keys() == results["end_to_end"].keys()
    report = (tmp_path / "out" / "gpu_benchmark.md").read_text()
    assert "| onnx CPU fp32 | 1 |" in report and "Full scene 300 x 200 px" in report and "main " in report
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_benchmark.json", "gpu_benchmark.md"]
    assert "skipped PyTorch on CUDA: no CUDA GPU" in capsys.readouterr().err


def test_a_run_past_its_deadline_is_stopped_and_marked(conv_model, real_data, tmp_path):
    model = load_model(conv_model)
    chip = real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif"
    row = gpu._end_to_end(model, chip, tmp_path, batch=1, deadline_s=0.0)
    assert not row["complete"] and row["seconds"] is None and row["done_percent"] == 0
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_network_rebuilt_from_the_state_dict_gives_the_bundled_model_s_probabilities(tmp_path):
    """The fallback for a torch that cannot load the .pt2: same weights, same network, same output."""
    pytest.importorskip("torch")
    state = gpu.save_state(tmp_path / "state.pt")
    bundled = load_model(DEFAULT_MODEL)
    rebuilt = gpu.ModuleBackend(state, bundled.metadata.architecture, len(bundled.metadata.bands), "cpu")
    batch = np.random.default_rng(0).normal(size=(1, 2, 128, 128)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.run(batch), bundled.backend.run(batch), atol=1e-4)


def test_full_scene_plan_puts_the_gpu_first_then_the_engine_alone_then_the_cpu(conv_model):
    """The plan a GPU machine would follow, each run at the engine's default batch for its device (GPU models
    cannot load here: the CPU model stands in for each, so their batch is the CPU's)."""
    model = load_model(conv_model)
    models = {"torch cuda fp32": model, "onnx CUDA fp32": model, "onnx CPU fp32": model}
    plan = [(name, batch, streams) for name, _, batch, streams in gpu._scene_runs(models)]
    cpu, cuda = DEFAULT_BATCH["cpu"], DEFAULT_BATCH["cuda"]
    assert plan == [("torch cuda fp32", cpu, None), ("torch cuda fp32, 2 batches in flight", cpu, 2),
                    ("onnx CUDA fp32", cpu, None), (gpu.INSTANT, cuda, None), ("onnx CPU fp32", cpu, None)]
    instant = gpu._scene_runs(models)[3][1]
    assert instant.predict(np.zeros((3, 2, 8, 8), np.float32)).shape == (3, 8, 8)
