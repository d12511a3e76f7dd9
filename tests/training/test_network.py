"""DeepLabv3+ / aligned Xception: shapes, output stride, gradients, checkpoints, timm weight loading."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from floodsar.engine.errors import FloodSarError
from floodsar.engine.metadata import ModelMetadata
from floodsar.training.checkpoint import load_checkpoint, save_checkpoint
from floodsar.training.network import ENCODERS, DeepLabV3Plus, ModelConfig, build_model, load_timm_encoder

#: Parameters of timm's xception65 classifier head (2048 -> 1000), absent from our encoder.
TIMM_HEAD_PARAMS = 2048 * 1000 + 1000


def tiny(**changes) -> DeepLabV3Plus:
    torch.manual_seed(0)
    return build_model(ModelConfig(encoder="xception_tiny", **changes))


@pytest.mark.parametrize("channels, batch, height, width",
                         [(2, 1, 64, 64), (15, 3, 48, 80), (1, 2, 32, 112), (2, 1, 50, 70)])
def test_logits_have_the_input_size(channels: int, batch: int, height: int, width: int) -> None:
    """Sides that are not multiples of 16 (last case) still give logits of the input size."""
    model = tiny(in_channels=channels).eval()
    with torch.no_grad():
        logits = model(torch.randn(batch, channels, height, width))
    assert logits.shape == (batch, 2, height, width)
    assert torch.isfinite(logits).all()


def test_number_of_classes() -> None:
    with torch.no_grad():
        assert tiny(num_classes=3).eval()(torch.randn(1, 2, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_encoder_output_stride_and_low_level_stride(output_stride: int) -> None:
    model = tiny(output_stride=output_stride).eval()
    with torch.no_grad():
        low, features = model.encoder(torch.randn(1, 2, 96, 64))
    assert low.shape[-2:] == (24, 16)  # the decoder's stride-4 features
    assert features.shape[-2:] == (96 // output_stride, 64 // output_stride)
    assert features.shape[1] == model.encoder.out_channels


def test_output_stride_16_dilates_the_exit_flow_only() -> None:
    blocks = build_model(ModelConfig(encoder="xception_tiny")).encoder.blocks
    dilations = [block.stack.conv1.conv_dw.dilation[0] for block in blocks]
    strides = [block.stack.conv3.conv_dw.stride[0] for block in blocks]
    assert strides == [2, 2, 2, 1, 1, 1]  # entry flow strides 2; the exit flow's stride became a dilation
    assert dilations == [1, 1, 1, 1, 1, 2]


def test_batch_of_one_trains_and_gradients_reach_every_parameter() -> None:
    model = tiny().train()
    logits = model(torch.randn(1, 2, 64, 64))  # one sample: the ASPP image pooling has no batch norm
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 2, (1, 64, 64))).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert model.encoder.stem[0].conv.weight.grad.abs().sum() > 0
    assert model.classifier.weight.grad.abs().sum() > 0


def test_eval_output_does_not_depend_on_the_rest_of_the_batch() -> None:
    model = tiny().eval()
    batch = torch.randn(5, 2, 32, 48)
    with torch.no_grad():
        assert torch.allclose(model(batch)[2:3], model(batch[2:3]), atol=1e-5)


def test_encoder_sizes() -> None:
    sizes = {name: sum(p.numel() for p in build_model(ModelConfig(encoder=name)).encoder.parameters())
             for name in ENCODERS}
    # timm reports 39.92 M parameters for xception65 (encoder + 1000-class head)
    assert round((sizes["xception65"] + TIMM_HEAD_PARAMS) / 1e6, 2) == 39.92
    total_lite = sum(p.numel() for p in build_model(ModelConfig(encoder="xception_lite")).parameters())
    assert total_lite <= 2_000_000
    assert sizes["xception_tiny"] < sizes["xception_lite"] < sizes["xception65"]


@pytest.mark.parametrize("changes", [{"encoder": "resnet50"}, {"output_stride": 32}, {"in_channels": 0},
                                     {"num_classes": 1}, {"encoder": "xception_lite", "encoder_weights": "w.pth"}])
def test_bad_configs_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        ModelConfig(**changes)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    config = ModelConfig(encoder="xception_tiny", in_channels=3, output_stride=8)
    model = tiny(in_channels=3, output_stride=8).train()
    model(torch.randn(4, 3, 32, 32))  # move the batch-norm statistics away from their defaults
    metadata = ModelMetadata(name="t", architecture="deeplabv3plus-xception_tiny", bands=("VV", "VH", "VV"),
                             mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, config, metadata=metadata, epoch=7, optimizer={"lr": 0.1})
    loaded, loaded_config, checkpoint = load_checkpoint(path)
    assert loaded_config == config and not loaded.training
    assert checkpoint["epoch"] == 7 and checkpoint["optimizer"] == {"lr": 0.1}
    assert ModelMetadata.from_json(checkpoint["metadata"]) == metadata
    assert checkpoint["model_config"] == dataclasses.asdict(config)
    sample = torch.randn(2, 3, 48, 32)
    with torch.no_grad():
        assert torch.equal(loaded(sample), model.eval()(sample))


def test_checkpoint_without_metadata(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "teacher.pt", tiny(in_channels=15), ModelConfig("xception_tiny", in_channels=15))
    _, config, checkpoint = load_checkpoint(tmp_path / "teacher.pt")
    assert config.in_channels == 15 and checkpoint["metadata"] is None


def test_unusable_checkpoints_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FloodSarError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(FloodSarError, match="garbage.pt: not a FloodSAR training checkpoint"):
        load_checkpoint(garbage)
    torch.save({"model_config": {"encoder": "xception_tiny"}, "state_dict": {}}, tmp_path / "empty.pt")
    with pytest.raises(FloodSarError, match="empty.pt"):
        load_checkpoint(tmp_path / "empty.pt")


def _timm_state_dict(path: Path) -> dict:
    """A state dict shaped like timm's xception65 (3 input channels, 1000-class head) with random values."""
    torch.manual_seed(1)
    encoder = DeepLabV3Plus(ModelConfig(encoder="xception65", in_channels=3)).encoder
    state = {key: torch.randn_like(value.float()) if value.is_floating_point() else value
             for key, value in encoder.state_dict().items()}
    state.update({"head.fc.weight": torch.randn(1000, 2048), "head.fc.bias": torch.randn(1000)})
    torch.save(state, path)
    return state


def test_timm_xception65_weights_load_into_the_encoder(tmp_path: Path) -> None:
    state = _timm_state_dict(tmp_path / "xception65.pth")
    model = build_model(ModelConfig(encoder="xception65", in_channels=2,
                                    encoder_weights=str(tmp_path / "xception65.pth")))
    loaded = model.encoder.state_dict()
    key = "blocks.20.stack.conv3.conv_pw.weight"
    assert torch.equal(loaded[key], state[key])
    stem = state["stem.0.conv.weight"]
    assert torch.allclose(loaded["stem.0.conv.weight"], stem[:, :2] * 1.5)  # 3 -> 2 channels, rescaled


def test_timm_loader_refuses_other_files(tmp_path: Path) -> None:
    model = build_model(ModelConfig(encoder="xception65"))
    torch.save({"stem.0.conv.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(FloodSarError, match="partial.pth: not a timm xception65 state dict"):
        load_timm_encoder(model, tmp_path / "partial.pth")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(FloodSarError, match="junk.pth: cannot read"):
        load_timm_encoder(model, tmp_path / "junk.pth")
