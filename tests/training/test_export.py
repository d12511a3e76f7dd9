"""Export to ONNX (fp32, fp16) and torch.export (.pt2): engine contract, metadata, dynamic shapes, parity."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from floodsar.engine.errors import FloodSarError
from floodsar.engine.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata, metadata_from_map
from floodsar.engine.models import load_model as load_engine_model
from floodsar.training.checkpoint import load_checkpoint, save_checkpoint
from floodsar.training.cli import main as floodsar_train
from floodsar.training.export import (FP16_MIN_IOU, check_parity, check_torch_parity, export_onnx, export_torch,
                                      mask_iou, sample_tile)
from floodsar.training.network import DeepLabV3Plus, ModelConfig, build_model

CHIPS = ("Spain_7370579", "India_900498")
METADATA = ModelMetadata(name="floodsar-test", architecture="deeplabv3plus-xception_tiny", tile_size=256,
                         overlap=32, training_data="none (random weights)", licence="CC0",
                         provenance={"test": True})


@pytest.fixture(scope="module")
def tiles(real_data: Path) -> np.ndarray:
    """Real Sen1Floods11 chips, normalised, their first 256 x 256 px: [2, 2, 256, 256]."""
    return np.concatenate([sample_tile(real_data / "sen1floods11" / "S1Hand" / f"{chip}_S1Hand.tif", METADATA)
                           [..., :256, :256] for chip in CHIPS])


@pytest.fixture(scope="module")
def model(tiles: np.ndarray) -> DeepLabV3Plus:
    """The tiny model fitted for a few seconds to a simple rule on real tiles (water where VH is below
    about -20 dB), so that, like a trained model, it gives confident, non-trivial water masks."""
    images = torch.from_numpy(tiles)
    crops = torch.cat([images[:, :, i:i + 64, j:j + 64] for i in (0, 96, 192) for j in (0, 96, 192)])
    targets = (crops[:, 1] < -0.5).long()
    torch.manual_seed(3)
    model = build_model(ModelConfig(encoder="xception_tiny")).train()
    with torch.no_grad():  # batch-norm statistics from SAR tiles, then frozen
        for _ in range(5):
            model(crops)
    model.eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(crops), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


@pytest.fixture(scope="module")
def onnx_path(model: DeepLabV3Plus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(model, METADATA, tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_onnx_follows_the_engine_contract(onnx_path: Path) -> None:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    [given] = session.get_inputs()
    [output] = session.get_outputs()
    assert (given.name, given.type, output.name, output.type) == (INPUT_NAME, "tensor(float)", OUTPUT_NAME,
                                                                 "tensor(float)")
    assert isinstance(given.shape[0], str) and given.shape[1] == 2 and all(isinstance(d, str) for d in given.shape[2:])
    assert metadata_from_map(session.get_modelmeta().custom_metadata_map, onnx_path) == METADATA
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17


def test_engine_loads_and_runs_the_onnx_model(onnx_path: Path, tiles: np.ndarray) -> None:
    engine_model = load_engine_model(onnx_path, "onnx", "cpu")
    assert engine_model.metadata == METADATA
    probability = engine_model.predict(tiles[:1, :, :256, :256])
    assert probability.shape == (1, 256, 256) and 0 <= probability.min() and probability.max() <= 1


@pytest.mark.parametrize("shape", [(1, 2, 512, 512), (3, 2, 48, 80), (2, 2, 128, 32)])
def test_dynamic_shapes_match_pytorch(model: DeepLabV3Plus, onnx_path: Path, shape: tuple) -> None:
    sample = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    assert check_parity(model, onnx_path, sample) < 1e-4


def test_onnx_output_is_the_water_class_softmax(model: DeepLabV3Plus, onnx_path: Path, tiles: np.ndarray) -> None:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    [probability] = session.run([OUTPUT_NAME], {INPUT_NAME: tiles})
    with torch.no_grad():
        logits = model(torch.from_numpy(tiles)).numpy()
    expected = 1 / (1 + np.exp(logits[:, :1] - logits[:, 1:2]))
    assert probability.shape == (2, 1, 256, 256)
    np.testing.assert_allclose(probability, expected, atol=1e-4)
    assert 0.1 < (probability >= 0.5).mean() < 0.9  # the parity below compares masks that are not trivial


def test_fp16_export_keeps_the_water_mask(model: DeepLabV3Plus, onnx_path: Path, tiles: np.ndarray,
                                          tmp_path: Path) -> None:
    path = export_onnx(model, METADATA, tmp_path / "model_fp16.onnx", fp16=True)
    proto = onnx.load(str(path))
    assert {init.data_type for init in proto.graph.initializer} == {onnx.TensorProto.FLOAT16}
    assert path.stat().st_size < 0.6 * onnx_path.stat().st_size
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == session.get_outputs()[0].type == "tensor(float)"
    assert metadata_from_map(session.get_modelmeta().custom_metadata_map, path) == METADATA
    assert mask_iou(model, path, tiles) >= FP16_MIN_IOU
    assert check_parity(model, path, tiles) < 0.05


def test_mask_iou_sees_a_different_model(model: DeepLabV3Plus, onnx_path: Path, tiles: np.ndarray) -> None:
    torch.manual_seed(99)
    other = build_model(ModelConfig(encoder="xception_tiny")).eval()
    assert mask_iou(other, onnx_path, tiles) < 0.9
    assert check_parity(other, onnx_path, tiles) > 0.01


def test_torch_export_loads_in_the_engine_and_matches(model: DeepLabV3Plus, tiles: np.ndarray,
                                                      tmp_path: Path) -> None:
    path = export_torch(model, METADATA, tmp_path / "model.pt2")
    engine_model = load_engine_model(path, "torch", "cpu", trusted_by_user=True)
    assert engine_model.metadata == METADATA
    batch = tiles[:, :, 64:224, :96]  # exported at [2, 2, 64, 64]; run at another batch and size
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(batch)))
    expected = torch.softmax(logits, dim=1)[:, 1].numpy()
    np.testing.assert_allclose(engine_model.predict(np.ascontiguousarray(batch)), expected, atol=1e-5)
    assert check_torch_parity(model, path, tiles[:1]) < 1e-5


def test_export_refuses_a_metadata_mismatch(model: DeepLabV3Plus, tmp_path: Path) -> None:
    three_bands = dataclasses.replace(METADATA, bands=("VV", "VH", "VV"), mean=(0, 0, 0), std=(1, 1, 1))
    with pytest.raises(ValueError, match="2 input channels"):
        export_onnx(model, three_bands, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="2 input channels"):
        export_torch(model, three_bands, tmp_path / "bad.pt2")
    assert not list(tmp_path.iterdir())


def test_command_line_writes_checked_onnx_pt2_and_fp16(model: DeepLabV3Plus, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture, real_data: Path) -> None:
    checkpoint = tmp_path / "best.pt"
    save_checkpoint(checkpoint, model, model.config, metadata=METADATA, epoch=3)
    out = tmp_path / "models" / "floodsar_s1.onnx"
    out.parent.mkdir()
    sample = real_data / "sen1floods11" / "S1Hand" / "India_900498_S1Hand.tif"
    assert floodsar_train(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--fp16", "--sample", str(sample)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["floodsar_s1.onnx", "floodsar_s1.pt2",
                                                            "floodsar_s1_fp16.onnx"]
    printed = capsys.readouterr().out
    assert "max |p_onnx - p_torch|" in printed and "IoU fp16 vs fp32" in printed
    for backend in ("onnx", "torch"):
        assert load_engine_model(out, backend, "cpu", trusted_by_user=True).metadata == METADATA
    reloaded, _, _ = load_checkpoint(checkpoint)
    assert check_parity(reloaded, out, sample_tile(sample, METADATA)) < 1e-4


def test_command_line_removes_an_fp16_model_that_fails_the_iou_check(
        model: DeepLabV3Plus, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from floodsar.training import export

    monkeypatch.setattr(export, "FP16_MIN_IOU", 1.01)  # no model can pass: the gate must act
    save_checkpoint(tmp_path / "best.pt", model, model.config, metadata=METADATA)
    out = tmp_path / "m.onnx"
    assert floodsar_train(["export", "--checkpoint", str(tmp_path / "best.pt"), "--out", str(out), "--fp16"]) == 1
    assert "m_fp16.onnx: the fp16 water mask's IoU with fp32 is below 1.01" in capsys.readouterr().err
    assert out.is_file() and out.with_suffix(".pt2").is_file() and not (tmp_path / "m_fp16.onnx").exists()


def test_command_line_refuses_a_teacher_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = ModelConfig(encoder="xception_tiny", in_channels=15)
    save_checkpoint(tmp_path / "teacher.pt", build_model(config), config)  # teachers carry no metadata
    out = tmp_path / "teacher.onnx"
    assert floodsar_train(["export", "--checkpoint", str(tmp_path / "teacher.pt"), "--out", str(out)]) == 1
    assert "teacher.pt: the checkpoint has no FloodSAR metadata" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".pt2").exists()


def test_command_line_refuses_bad_metadata_in_a_checkpoint(model: DeepLabV3Plus, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    three_bands = dataclasses.replace(METADATA, bands=("VV", "VH", "VV"), mean=(0, 0, 0), std=(1, 1, 1))
    save_checkpoint(tmp_path / "best.pt", model, model.config, metadata=three_bands)
    assert floodsar_train(["export", "--checkpoint", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "best.pt: the model takes 2 input channels but the metadata lists 3 bands" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_command_line_reports_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert floodsar_train(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "none.pt: checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        floodsar_train(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.pt2")])


def test_command_line_stores_a_model_card_in_both_files(model: DeepLabV3Plus, tmp_path: Path) -> None:
    checkpoint, out, card = tmp_path / "best.pt", tmp_path / "m.onnx", tmp_path / "card.json"
    save_checkpoint(checkpoint, model, model.config, metadata=METADATA, epoch=3)
    card.write_text(json.dumps({"training_data": "generated chips", "licence": "CC BY 4.0",
                                "failure_modes": ["mountain shadow"], "seed": 0}))
    assert floodsar_train(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--card", str(card)]) == 0
    for backend in ("onnx", "torch"):
        meta = load_engine_model(out, backend, "cpu", trusted_by_user=True).metadata
        assert (meta.training_data, meta.licence) == ("generated chips", "CC BY 4.0")
        assert meta.provenance["failure_modes"] == ["mountain shadow"] and meta.provenance["seed"] == 0
        assert meta.provenance["test"] is True  # the training provenance is kept


def test_command_line_refuses_a_card_that_is_not_an_object(model: DeepLabV3Plus, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    save_checkpoint(tmp_path / "best.pt", model, model.config, metadata=METADATA, epoch=3)
    (tmp_path / "card.json").write_text("[1, 2]")
    assert floodsar_train(["export", "--checkpoint", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx"),
                 "--card", str(tmp_path / "card.json")]) == 1
    assert "card.json: a model card must be a JSON object" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
