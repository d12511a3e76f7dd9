"""Export a trained segmentation model for the engine: ONNX (fp32, optional fp16) and torch.export (.pt2).

Both files follow the engine's model contract (:mod:`floodsar.engine.metadata`): input ``input``
float32 [N, C, H, W], output ``water_probability`` float32 [N, 1, H, W] = softmax(logits)[:, 1:2],
dynamic batch, height and width, and the model's metadata inside the file. ONNX uses the legacy
TorchScript-based exporter (``dynamo=False``; it needs no onnxscript), opset 17, ``onnx.checker``; its
two-class head is rewritten as sigmoid(l1 - l0) (:mod:`floodsar.training.graph`: same probabilities, less time).

    floodsar-train export --checkpoint runs/bundled/seed0/best.pt \\
        --out resources/models/floodsar_s1.onnx [--fp16] [--sample S1.tif]

writes the .onnx and its sibling .pt2 (and ``<name>_fp16.onnx`` with ``--fp16``), checks each
against PyTorch on a real Sentinel-1 tile and prints the parity numbers.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from ..engine.backends import TORCH_METADATA_FILE
from ..engine.errors import FloodSarError
from ..engine.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata, write_onnx_metadata
from ..engine.safe_write import atomic_output
from ..engine.scene_statistics import SceneStatistics
from .checkpoint import load_checkpoint
from .graph import sigmoid_head

OPSET = 17
#: Largest allowed max-abs difference of the fp32 ONNX / .pt2 probability from PyTorch's.
FP32_TOLERANCE = 1e-3
#: Smallest allowed IoU of the fp16 model's water mask against the fp32 PyTorch mask.
FP16_MIN_IOU = 0.99
#: Real Sentinel-1 chip (VV, VH in dB) used as the parity sample by the command line.
SAMPLE_TILE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "Spain_7370579_S1Hand.tif"


class WaterProbability(nn.Module):
    """Wraps a logit model: float32 input -> float32 softmax(logits)[:, 1:2] (the water class).

    With ``dtype=torch.float16`` the wrapped model runs in half precision between two casts, so
    the file's inputs and outputs stay float32.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).to(device="cpu", dtype=dtype).eval()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x.to(self.dtype)).float()
        return torch.softmax(logits, dim=1)[:, 1:2]


def _check_model(model: nn.Module, metadata: ModelMetadata) -> None:
    config = getattr(model, "config", None)
    if config is None:
        return
    if config.in_channels != len(metadata.bands):
        raise ValueError(f"the model takes {config.in_channels} input channels but the metadata lists "
                         f"{len(metadata.bands)} bands ({', '.join(metadata.bands)})")
    if metadata.stride % config.output_stride:
        raise ValueError(f"metadata stride {metadata.stride} is not a multiple of the model's output stride "
                         f"{config.output_stride}")


def _example(metadata: ModelMetadata, batch: int = 2, size: int = 4) -> torch.Tensor:
    """A small normalised-scale input whose sides are multiples of the metadata's stride."""
    generator = torch.Generator().manual_seed(0)
    side = metadata.stride * size
    return torch.randn(batch, len(metadata.bands), side, side, generator=generator)


def export_onnx(model: nn.Module, metadata: ModelMetadata, path: str | Path, *, fp16: bool = False) -> Path:
    """Write ``model`` as an ONNX file with FloodSAR metadata (atomically); returns the path."""
    import onnx

    _check_model(model, metadata)
    path = Path(path)
    wrapper = WaterProbability(model, torch.float16 if fp16 else torch.float32)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_output(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is our deliberate choice
        torch.onnx.export(wrapper, (_example(metadata),), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, do_constant_folding=True)
        proto = onnx.load(str(tmp))
        sigmoid_head(proto)  # the same probabilities, computed more cheaply (see training/graph.py)
        write_onnx_metadata(proto, metadata)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
    return path


def export_torch(model: nn.Module, metadata: ModelMetadata, path: str | Path) -> Path:
    """Write ``model`` as a ``torch.export`` program (.pt2) with FloodSAR metadata; returns the path.

    Batch is dynamic; height and width are dynamic multiples of ``metadata.stride``.
    """
    from torch.export import Dim

    _check_model(model, metadata)
    path = Path(path)
    stride = metadata.stride
    shapes = {"x": {0: Dim("batch", min=1, max=1024), 2: stride * Dim("rows", min=1, max=4096),
                    3: stride * Dim("cols", min=1, max=4096)}}
    program = torch.export.export(WaterProbability(model), (_example(metadata),), dynamic_shapes=shapes)
    with atomic_output(path) as tmp:
        torch.export.save(program, str(tmp), extra_files={TORCH_METADATA_FILE: metadata.to_json()})
    return path


def _torch_probability(model: nn.Module, sample: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return WaterProbability(model)(torch.from_numpy(sample)).numpy()


def _onnx_probability(onnx_path: Path, sample: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: sample})[0]


def check_parity(model: nn.Module, onnx_path: str | Path, sample: np.ndarray) -> float:
    """Max abs difference of the water probability: PyTorch (fp32) vs ONNX Runtime on CPU."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    return float(np.abs(_torch_probability(model, sample) - _onnx_probability(Path(onnx_path), sample)).max())


def mask_iou(model: nn.Module, onnx_path: str | Path, sample: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the water masks (probability >= threshold) of ONNX Runtime vs PyTorch fp32 (1.0 if both empty)."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    reference = _torch_probability(model, sample) >= threshold
    exported = _onnx_probability(Path(onnx_path), sample) >= threshold
    union = np.logical_or(reference, exported).sum()
    return float(np.logical_and(reference, exported).sum() / union) if union else 1.0


def check_torch_parity(model: nn.Module, pt2_path: str | Path, sample: np.ndarray) -> float:
    """Max abs difference of the water probability: the model vs its loaded .pt2 program."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    module = torch.export.load(str(pt2_path)).module()
    with torch.no_grad():
        exported = module(torch.from_numpy(sample)).numpy()
    return float(np.abs(_torch_probability(model, sample) - exported).max())


def sample_tile(path: Path, metadata: ModelMetadata) -> np.ndarray:
    """A real Sentinel-1 chip as a normalised [1, C, H, W] batch (nodata filled with the band means)."""
    from ..engine.sentinel1 import POLARISATIONS
    from .datasets import read_s1

    db, valid = read_s1(path)
    db = db[[POLARISATIONS.index(band) for band in metadata.bands]]
    mean = np.asarray(metadata.mean, np.float32)[:, None, None]
    scene = SceneStatistics.of_array(db, valid) if metadata.normalisation == "scene" else None
    tile = metadata.normalise(np.where(valid, db, mean), scene)[None]
    height, width = (side - side % metadata.stride for side in tile.shape[2:])
    return np.ascontiguousarray(tile[:, :, :height, :width])


def apply_card(metadata: ModelMetadata, card: Mapping[str, Any]) -> ModelMetadata:
    """``metadata`` with a model card: ``training_data`` and ``licence`` replace, other keys join provenance."""
    fields = {key: str(card[key]) for key in ("training_data", "licence") if key in card}
    extra = {key: value for key, value in card.items() if key not in fields}
    return dataclasses.replace(metadata, **fields, provenance={**metadata.provenance, **extra})


def read_card(path: Path) -> dict:
    """A model card JSON object; FloodSarError naming the file when it is not one."""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FloodSarError(f"{path}: cannot read the model card ({exc}); pass a JSON object file.") from exc
    if not isinstance(card, dict):
        raise FloodSarError(f"{path}: a model card must be a JSON object, not {type(card).__name__}.")
    return card


def _onnx_path(value: str) -> Path:
    path = Path(value)
    if path.suffix.lower() != ".onnx":
        raise argparse.ArgumentTypeError(f"must end in .onnx, not {path.name!r}")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt of an S1 model")
    parser.add_argument("--out", required=True, type=_onnx_path, help="the .onnx to write (the .pt2 goes beside it)")
    parser.add_argument("--fp16", action="store_true", help="also write <name>_fp16.onnx (for GPUs)")
    parser.add_argument("--sample", type=Path, default=SAMPLE_TILE,
                        help="Sentinel-1 VV/VH GeoTIFF for the parity checks (default: the bundled sample chip)")
    parser.add_argument("--card", type=Path, help="model card JSON stored in the metadata (training_data, "
                                                   "licence; other keys join the provenance)")


def _verified(path: Path, value: float, ok: bool, what: str) -> None:
    """Remove ``path`` and raise when its parity check (``value``) failed."""
    if not ok:
        path.unlink(missing_ok=True)
        raise FloodSarError(f"{path}: {what} ({value:.3g}); the file was removed. Check the model for "
                            "operations the exporter does not support.")


def student_for_export(path: Path, card: Optional[Path] = None) -> tuple[nn.Module, ModelMetadata]:
    """The model and engine metadata of an S1 checkpoint (with the model card when given)."""
    model, _, checkpoint = load_checkpoint(path)
    if not checkpoint.get("metadata"):
        raise FloodSarError(f"{path}: the checkpoint has no FloodSAR metadata (only S1 models the "
                            "engine can run carry it, not teachers); export a Sentinel-1 student.")
    try:
        metadata = ModelMetadata.from_json(checkpoint["metadata"])
        _check_model(model, metadata)
    except ValueError as exc:
        raise FloodSarError(f"{path}: {exc}; retrain or fix the checkpoint.") from exc
    return model, apply_card(metadata, read_card(card)) if card else metadata


def command(args: argparse.Namespace) -> int:
    """``floodsar-train export``: the .onnx and its .pt2 twin (and the fp16 .onnx), each checked against PyTorch."""
    model, metadata = student_for_export(args.checkpoint, args.card)
    sample = sample_tile(args.sample, metadata)
    onnx_path = export_onnx(model, metadata, args.out)
    difference = check_parity(model, onnx_path, sample)
    _verified(onnx_path, difference, difference <= FP32_TOLERANCE, "ONNX Runtime differs from PyTorch")
    print(f"{onnx_path}: max |p_onnx - p_torch| = {difference:.2e} on {args.sample.name}")
    pt2_path = export_torch(model, metadata, args.out.with_suffix(".pt2"))
    difference = check_torch_parity(model, pt2_path, sample)
    _verified(pt2_path, difference, difference <= FP32_TOLERANCE, "the .pt2 program differs from PyTorch")
    print(f"{pt2_path}: max |p_pt2 - p_torch| = {difference:.2e}")
    if args.fp16:
        fp16_path = export_onnx(model, metadata, args.out.with_name(f"{args.out.stem}_fp16.onnx"), fp16=True)
        iou = mask_iou(model, fp16_path, sample, metadata.threshold)
        _verified(fp16_path, iou, iou >= FP16_MIN_IOU, f"the fp16 water mask's IoU with fp32 is below {FP16_MIN_IOU}")
        print(f"{fp16_path}: water-mask IoU fp16 vs fp32 = {iou:.4f}, max |dp| = "
              f"{check_parity(model, fp16_path, sample):.2e}")
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.export ...
    from .cli import main

    sys.exit(main(["export", *sys.argv[1:]]))
