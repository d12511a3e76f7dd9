"""The segmentation network: DeepLabv3+ with an aligned Xception backbone, in plain PyTorch.

Architecture (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution"):

- Encoder: aligned Xception (entry flow, ``middle_blocks`` middle-flow blocks, exit flow), every
  3x3 convolution depthwise-separable with batch norm. Once the output stride is reached, later
  strides become dilations (output stride 16: the exit flow is dilated by 2).
- ASPP on the encoder output: 1x1 conv, three separable atrous 3x3 convs (rates 6, 12, 18 at output
  stride 16; 12, 24, 36 at 8) and image pooling, fused by a 1x1 conv.
- Decoder: ASPP features upsampled to stride 4 and fused with the encoder's stride-4 features
  (reduced by a 1x1 conv), two separable 3x3 convs, a 1x1 classifier, bilinear upsampling to the
  input size. Logits [N, num_classes, H, W]; H, W should be multiples of the output stride.

Encoders (one code path; :data:`ENCODERS` sets width, depth and decoder width):
``xception65`` is the paper's backbone (parameter names equal timm's ``xception65`` under
``encoder.``, so :func:`load_timm_encoder` can load its ImageNet weights from a local file);
``xception_lite`` is a narrow, shallow variant for CPU users; ``xception_tiny`` is for tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.errors import FloodSarError

#: BatchNorm settings of the aligned Xception (those of the TF DeepLab weights timm ports).
BN_EPS, BN_MOMENTUM = 1e-3, 0.1
#: ASPP atrous rates per output stride.
ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


@dataclass(frozen=True)
class EncoderSpec:
    """Width multiplier, middle-flow depth and decoder width of an encoder."""

    width: float
    middle_blocks: int
    decoder_channels: int


ENCODERS = {
    "xception65": EncoderSpec(width=1.0, middle_blocks=16, decoder_channels=256),
    "xception_lite": EncoderSpec(width=0.25, middle_blocks=4, decoder_channels=96),
    "xception_tiny": EncoderSpec(width=0.125, middle_blocks=1, decoder_channels=32),
}


@dataclass(frozen=True)
class ModelConfig:
    """What :func:`build_model` builds; stored in checkpoints as ``dataclasses.asdict``.

    ``encoder_weights``: optional local file with timm ``xception65`` ImageNet weights loaded into
    the encoder when the model is built (``xception65`` only; never downloaded).
    """

    encoder: str = "xception65"
    in_channels: int = 2
    num_classes: int = 2
    output_stride: int = 16
    encoder_weights: Optional[str] = None

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        if self.output_stride not in ASPP_RATES:
            raise ValueError(f"output_stride must be 8 or 16, not {self.output_stride!r}")
        if self.in_channels < 1 or self.num_classes < 2:
            raise ValueError("in_channels must be at least 1 and num_classes at least 2")
        if self.encoder_weights is not None and self.encoder != "xception65":
            raise ValueError("encoder_weights (timm xception65 weights) need encoder = 'xception65'")

    @property
    def spec(self) -> EncoderSpec:
        return ENCODERS[self.encoder]


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class ConvBn(nn.Module):
    """Conv (no bias) + BN, optionally + ReLU; names as timm's ``ConvNormAct`` (``conv``, ``bn``)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding=kernel_size // 2, bias=False)
        self.bn = _bn(out_chs)
        self.act = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 (strided or dilated) + BN, pointwise 1x1 + BN; ReLU after each if ``relu``."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, dilation: int = 1, relu: bool = False) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(in_chs, in_chs, 3, stride, padding=dilation, dilation=dilation, groups=in_chs,
                                 bias=False)
        self.bn_dw = _bn(in_chs)
        self.act_dw = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn_pw = _bn(out_chs)
        self.act_pw = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_dw(self.bn_dw(self.conv_dw(x)))
        return self.act_pw(self.bn_pw(self.conv_pw(x)))


class XceptionBlock(nn.Module):
    """Three separable convs (the last one strided) with a residual shortcut, as in aligned Xception."""

    def __init__(self, in_chs: int, out_chs: tuple[int, int, int], stride: int = 1, dilation: int = 1,
                 start_with_relu: bool = True, skip: bool = True) -> None:
        super().__init__()
        self.skip = skip
        needs_projection = skip and (out_chs[-1] != in_chs or stride != 1)
        self.shortcut = ConvBn(in_chs, out_chs[-1], 1, stride, relu=False) if needs_projection else None
        self.stack = nn.Sequential()
        for i, channels in enumerate(out_chs):
            if start_with_relu:  # pre-activation; the first ReLU must not overwrite the block's input
                self.stack.add_module(f"act{i + 1}", nn.ReLU(inplace=i > 0))
            self.stack.add_module(f"conv{i + 1}", SeparableConv2d(
                in_chs, channels, stride if i == 2 else 1, dilation, relu=not start_with_relu))
            in_chs = channels

    def forward_with_inner(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block output, the activation entering the last separable conv)."""
        inner = self.stack[:-1](x)
        out = self.stack[-1](inner)
        if self.skip:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return out, inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_inner(x)[0]


def _scaled(channels: int, width: float) -> int:
    """Channels times the width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width / 8)) * 8)


class XceptionEncoder(nn.Module):
    """Aligned Xception features: (stride-4 low-level features, final features at the output stride)."""

    #: Index of the block whose inner activation (before its strided conv) is the stride-4 feature map.
    LOW_LEVEL_BLOCK = 1

    def __init__(self, in_channels: int, spec: EncoderSpec, output_stride: int) -> None:
        super().__init__()
        c = [_scaled(n, spec.width) for n in (32, 64, 128, 256, 728, 1024, 1536, 2048)]
        self.stem = nn.Sequential(ConvBn(in_channels, c[0], 3, stride=2), ConvBn(c[0], c[1], 3))
        blocks = [  # (in, out per separable conv, stride, extra keyword arguments)
            (c[1], (c[2],) * 3, 2, {}),  # entry flow
            (c[2], (c[3],) * 3, 2, {}),
            (c[3], (c[4],) * 3, 2, {}),
            *[(c[4], (c[4],) * 3, 1, {})] * spec.middle_blocks,  # middle flow
            (c[4], (c[4], c[5], c[5]), 2, {}),  # exit flow
            (c[5], (c[6], c[6], c[7]), 1, {"start_with_relu": False, "skip": False}),
        ]
        self.blocks = nn.Sequential()
        stride, dilation = 2, 1  # the stem already halves the input
        for i, (in_chs, out_chs, block_stride, extra) in enumerate(blocks):
            block_dilation = dilation
            if stride * block_stride > output_stride:  # past the output stride: dilate instead of striding
                dilation *= block_stride
                block_stride = 1
            stride *= block_stride
            self.blocks.add_module(str(i), XceptionBlock(in_chs, out_chs, block_stride, block_dilation, **extra))
        self.low_level_channels = c[3]
        self.out_channels = c[7]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        low = x
        for i, block in enumerate(self.blocks):
            if i == self.LOW_LEVEL_BLOCK:
                x, low = block.forward_with_inner(x)
            else:
                x = block(x)
        return low, x


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with separable atrous convs and image pooling."""

    def __init__(self, in_chs: int, out_chs: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBn(in_chs, out_chs, 1)])
        self.branches.extend(SeparableConv2d(in_chs, out_chs, dilation=rate, relu=True) for rate in rates)
        # Image pooling: a 1x1 conv with bias and no BN, so training works with a batch of one.
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_chs, out_chs, 1), nn.ReLU(inplace=True))
        self.project = ConvBn(out_chs * (len(rates) + 2), out_chs, 1)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        features = [branch(x) for branch in self.branches] + [pooled]
        return self.dropout(self.project(torch.cat(features, dim=1)))


class DeepLabV3Plus(nn.Module):
    """DeepLabv3+ segmentation network: logits [N, num_classes, H, W]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        spec = config.spec
        channels = spec.decoder_channels
        low_channels = max(8, channels * 3 // 16)  # 48 for the paper's 256
        self.encoder = XceptionEncoder(config.in_channels, spec, config.output_stride)
        self.aspp = ASPP(self.encoder.out_channels, channels, ASPP_RATES[config.output_stride])
        self.low_level = ConvBn(self.encoder.low_level_channels, low_channels, 1)
        self.decoder = nn.Sequential(SeparableConv2d(channels + low_channels, channels, relu=True),
                                     SeparableConv2d(channels, channels, relu=True))
        self.classifier = nn.Conv2d(channels, config.num_classes, 1)
        _initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, features = self.encoder(x)
        low = self.low_level(low)
        context = F.interpolate(self.aspp(features), size=low.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(self.decoder(torch.cat([context, low], dim=1)))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _initialise(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_model(config: ModelConfig) -> DeepLabV3Plus:
    """A freshly initialised model (with timm ImageNet encoder weights if ``config.encoder_weights``)."""
    model = DeepLabV3Plus(config)
    if config.encoder_weights is not None:
        load_timm_encoder(model, config.encoder_weights)
    return model


def first_line(exc: Exception) -> str:
    """The first line of an exception's message (its type if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_timm_encoder(model: DeepLabV3Plus, path: str | Path) -> None:
    """Load a local timm ``xception65`` state dict (e.g. ImageNet weights) into ``model.encoder``.

    The classifier head is dropped; the 3-channel first conv is adapted to ``in_channels`` by
    cycling its input channels and rescaling so activations keep their magnitude.
    """
    path = Path(path)
    if model.config.encoder != "xception65":
        raise ValueError("timm xception65 weights fit the 'xception65' encoder only")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = dict(state.get("state_dict", state))
    except Exception as exc:  # torch.load raises many types for a file that is not a state dict
        raise FloodSarError(f"{path}: cannot read timm xception65 weights ({first_line(exc)}); check the file.") \
            from exc
    state = {key: value for key, value in state.items() if not key.startswith("head.")}
    first = "stem.0.conv.weight"
    if first in state:
        weight = state[first]
        channels = model.config.in_channels
        index = torch.arange(channels) % weight.shape[1]
        state[first] = weight[:, index] * (weight.shape[1] / channels)
    try:
        model.encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FloodSarError(f"{path}: not a timm xception65 state dict ({first_line(exc)}); "
                            "save timm.create_model('xception65', pretrained=True).state_dict().") from exc


def water_probability(model: nn.Module, images: torch.Tensor, stride: int = 16) -> torch.Tensor:
    """Water probability [N, H, W] of a 2-class logit model, padding H, W to a multiple of ``stride``."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % stride, -width % stride
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > max(pad_h, pad_w)
                       else "replicate")
    logits = model(images)
    return torch.softmax(logits.float(), dim=1)[:, 1, :height, :width]
