"""Finding and loading FloodSAR models: the bundled default, a user's file, its metadata.

A model is refused, before any inference, when the file is missing or corrupt, has no
valid FloodSAR metadata, or wants bands the engine cannot give it (it reads VV and VH).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from .backends import OnnxBackend, TorchBackend, onnx_device
from .choices import Backend, Device, Precision
from .errors import FloodSarError, OptionError
from .metadata import ModelMetadata, metadata_from_map
from .sentinel1 import POLARISATIONS

#: The model shipped with FloodSAR (relative to the package root, whatever the folder is called).
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "resources" / "models" / "floodsar_s1.onnx"
#: File suffix of each backend's model files.
SUFFIXES = {Backend.ONNX: ".onnx", Backend.TORCH: ".pt2"}


def bundled_model(backend: Backend = Backend.ONNX, device: Device = Device.AUTO,
                  precision: Precision = Precision.AUTO) -> Path:
    """The bundled model file: its int8 twin for ONNX Runtime when ``precision`` is int8, or auto and the
    session runs on the CPU (the int8 model is faster there and as accurate: see the README); else fp32."""
    if not DEFAULT_MODEL.is_file():
        raise OptionError("model", None, f"no bundled model found at {DEFAULT_MODEL}",
                          "pass a FloodSAR model with {model=PATH}, or use the classical baseline ({method=otsu})")
    int8 = int8_twin(DEFAULT_MODEL)
    if backend != Backend.ONNX or precision == Precision.FP32:
        return DEFAULT_MODEL
    if precision == Precision.INT8:
        if not int8.is_file():
            raise OptionError("precision", precision, f"no bundled int8 model found at {int8}",
                              "make it with floodsar-train quantize, or use {precision=fp32}")
        return int8
    return int8 if int8.is_file() and onnx_device(device) == "cpu" else DEFAULT_MODEL


def resolve_model_path(model: str | Path | None, backend: Backend = Backend.ONNX, device: Device = Device.AUTO,
                       precision: Precision = Precision.AUTO) -> Path:
    """The model file to load: ``model``, or the bundled one for ``device`` and ``precision``
    (:func:`bundled_model`); for torch, the ``.pt2`` twin.

    The training export writes ``<name>.pt2`` next to ``<name>.onnx``, so either path
    works with either backend when both files exist.
    """
    if model is None:
        model = bundled_model(backend, device, precision)
    path = Path(model)
    if not path.exists():
        raise OptionError("model", model, "model file not found", "check the {model} path", path)
    wanted = SUFFIXES[backend]
    if path.suffix.lower() == wanted:
        return path
    twin = path.with_suffix(wanted)
    if path.suffix.lower() in SUFFIXES.values() and twin.is_file():
        return twin
    other = Backend.ONNX if backend == Backend.TORCH else Backend.TORCH
    raise OptionError("backend", backend, f"the {backend} backend needs a {wanted} model file and there is no "
                      f"{twin.name} beside it", f"pass a {wanted} file, or use {{backend={other}}} for a "
                      f"{SUFFIXES[other]} file", path)


def int8_twin(path: Path) -> Path:
    """Where a model's int8 twin lies (``floodsar-train quantize`` writes it): ``<name>_int8.onnx`` beside it."""
    return path.with_name(f"{path.stem}_int8.onnx")


ModelBackend = Union[OnnxBackend, TorchBackend]


@dataclass
class Model:
    """A loaded model: its file, validated metadata and the backend running it."""

    path: Path
    metadata: ModelMetadata
    backend: ModelBackend

    @property
    def band_indices(self) -> list[int]:
        """Indices into the engine's (VV, VH) stack, in the model's band order."""
        return [POLARISATIONS.index(band) for band in self.metadata.bands]

    @property
    def description(self) -> str:
        return f"{self.metadata.name} ({self.path.name}) on {self.backend.description}"

    @property
    def streams(self) -> int:
        """How many batches may run at once (:meth:`predict` from that many threads)."""
        return self.backend.streams

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Water probability float32 [N, H, W] for a normalised float32 [N, C, H, W] batch."""
        try:
            output = self.backend.run(batch)
        except Exception as exc:  # the runtimes raise their own types for shape or kernel failures
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FloodSarError(f"{self.path}: the model failed on a batch of shape {list(batch.shape)} "
                                f"({reason}); check that it was exported with dynamic batch, height and width.") \
                from exc
        expected = (batch.shape[0], 1, *batch.shape[2:])
        if output.shape != expected:
            raise FloodSarError(f"{self.path}: the model returned shape {list(output.shape)} for an input of "
                                f"shape {list(batch.shape)}, expected {list(expected)}; export it with FloodSAR.")
        return output[:, 0].astype(np.float32, copy=False)


def load_model(model: str | Path | None = None, backend: Backend = Backend.ONNX, device: Device = Device.AUTO,
               threads: int | None = None, trusted_by_user: bool = False,
               precision: Precision = Precision.AUTO) -> Model:
    """Load and validate a model file (None = the bundled model, in ``precision``); FloodSarError on any
    problem. ``threads``: CPU threads for inference in all (default: one per core). A ``.pt2`` file is opened only
    when it is the bundled model or ``trusted_by_user`` (opening one can run code)."""
    path = resolve_model_path(model, backend, device, precision)
    runner = (OnnxBackend(path, device, threads) if backend == Backend.ONNX
              else TorchBackend(path, device, threads, trusted_by_user))
    metadata = metadata_from_map(runner.metadata_map, path)
    unknown = [band for band in metadata.bands if band not in POLARISATIONS]
    if unknown:
        raise FloodSarError(f"{path}: the model wants bands {list(metadata.bands)}, but FloodSAR can only give it "
                            f"{' and '.join(POLARISATIONS)}; use a Sentinel-1 VV/VH model.")
    channels = runner.input_channels()
    if channels is not None and channels != len(metadata.bands):
        raise FloodSarError(f"{path}: the model takes {channels} input bands but its metadata lists "
                            f"{len(metadata.bands)} ({', '.join(metadata.bands)}); export it again with FloodSAR.")
    return Model(path, metadata, runner)
