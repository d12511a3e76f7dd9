"""Inference backends: ONNX Runtime (default) and PyTorch (``torch.export`` programs, ``.pt2``).

Both take a float32 [N, C, H, W] batch and return the float32 [N, 1, H, W] water
probability. They expose the model file's raw metadata map; :mod:`.models` validates it.
torch is imported only when the PyTorch backend is asked for.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import model_trust
from .choices import Device
from .errors import FloodSarError, OptionError
from .metadata import INPUT_NAME, METADATA_KEY, OUTPUT_NAME

#: ONNX Runtime providers in order of preference, and the devices they run on.
PROVIDER_DEVICES = {"TensorrtExecutionProvider": "cuda", "CUDAExecutionProvider": "cuda",
                    "CPUExecutionProvider": "cpu"}
#: Name of the metadata file inside a ``.pt2`` archive (``torch.export.save(extra_files=...)``).
TORCH_METADATA_FILE = "floodsar.json"
#: Batches the CPU runs at once. Two keep every core busy through each other's single-threaded operators and
#: the reader's decoding; one batch on all cores left a quarter of a 2-core machine idle (README, Performance).
CPU_STREAMS = 2


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_streams(threads: int | None) -> tuple[int, int]:
    """(batches run at once, threads per batch) for ``threads`` CPU threads in all (None: one per usable core)."""
    total = threads or usable_cores()
    streams = min(CPU_STREAMS, total)
    return streams, total // streams


def select_providers(device: Device, available: Sequence[str]) -> list[str]:
    """ONNX Runtime providers for ``device`` from those available, best first (TensorRT, CUDA, CPU)."""
    chosen = [p for p in PROVIDER_DEVICES if p in available and device in (Device.AUTO, PROVIDER_DEVICES[p])]
    if device == Device.CUDA and not chosen:
        raise OptionError("device", device, f"{{device=cuda}}: this ONNX Runtime has no CUDA provider "
                          f"(available: {', '.join(available)})",
                          "install onnxruntime-gpu with a matching CUDA, or use {device=cpu}")
    if not chosen:
        raise FloodSarError(f"ONNX Runtime offers no usable provider (available: {', '.join(available)}); "
                            "reinstall onnxruntime.")
    return chosen


def onnx_device(device: Device) -> str:
    """'cpu' or 'cuda': where ONNX Runtime runs a session for ``device`` (on its best provider present)."""
    import onnxruntime as ort

    return PROVIDER_DEVICES[select_providers(device, ort.get_available_providers())[0]]


def session_options(device: str, threads: int | None) -> tuple[Any, int]:
    """ONNX Runtime session options for a session on ``device`` ('cpu' or 'cuda') with ``threads`` CPU
    threads in all (None: one per core), and how many batches it may run at once."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: provider fallback notes are reported by us
    # ONNX Runtime's threads spin between operators by default, holding every core while the engine's
    # reader thread (and any other process) waits for one: on a 2-core machine that made runs slower.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if device == "cpu":
        streams, options.intra_op_num_threads = cpu_streams(threads)
        return options, streams
    if threads:  # CPU threads of the operators a GPU provider leaves to the CPU
        options.intra_op_num_threads = threads
    return options, 1


class OnnxBackend:
    """An ONNX Runtime session on the best available provider for the device; on the CPU, ``streams`` batches
    may run at once (``run`` is called from that many threads), sharing out ``threads``."""

    def __init__(self, path: Path, device: Device = Device.AUTO, threads: int | None = None) -> None:
        import onnxruntime as ort

        if hasattr(ort, "disable_telemetry_events"):  # usage events (sent on Windows builds): off
            ort.disable_telemetry_events()
        providers = select_providers(device, ort.get_available_providers())
        options, self.streams = session_options(PROVIDER_DEVICES[providers[0]], threads)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for corrupt or unsupported files
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FloodSarError(f"{path}: not a usable ONNX model ({reason}); "
                                "check the file is complete or export it again.") from exc
        self.path = path
        self.providers = self.session.get_providers()
        self.device = "cpu" if self.providers[0] == "CPUExecutionProvider" else "cuda"
        if device == Device.CUDA and self.device != "cuda":
            raise OptionError("device", device, f"{{device=cuda}} was asked for but ONNX Runtime could only start "
                              f"{self.providers[0]}", "check the CUDA and cuDNN installation, or use {device=cpu}",
                              path)
        self.description = f"onnxruntime {ort.__version__} {self.providers[0]} ({self.device})"
        self.metadata_map: Mapping[str, str] = self.session.get_modelmeta().custom_metadata_map
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise FloodSarError(f"{path}: the model must take '{INPUT_NAME}' and give '{OUTPUT_NAME}' "
                                f"(it takes {sorted(inputs)} and gives {outputs}); export it with FloodSAR.")
        self.input_shape = inputs[INPUT_NAME]

    def input_channels(self) -> int | None:
        """The model's fixed channel count, or None when it is symbolic."""
        channels = self.input_shape[1] if len(self.input_shape) == 4 else None
        return channels if isinstance(channels, int) else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]


class TorchBackend:
    """A ``torch.export`` program (``.pt2``) on CPU or CUDA; only a trusted file is opened (:mod:`.model_trust`)."""

    def __init__(self, path: Path, device: Device = Device.AUTO, threads: int | None = None,
                 trusted_by_user: bool = False) -> None:
        data = model_trust.read_pt2(path, trusted_by_user)
        import torch

        if threads:  # CPU threads of this process's PyTorch (default: one per core)
            torch.set_num_threads(threads)
        if device == Device.CUDA and not torch.cuda.is_available():
            raise OptionError("device", device, f"{{device=cuda}}: PyTorch sees no CUDA GPU (torch "
                              f"{torch.__version__})", "install a CUDA build of torch, or use {device=cpu}")
        self.device = "cuda" if device != Device.CPU and torch.cuda.is_available() else "cpu"
        self.streams = 1  # PyTorch's threads are the process's: one batch at a time, on all of them
        extra = {TORCH_METADATA_FILE: ""}
        try:
            program = torch.export.load(io.BytesIO(data), extra_files=extra)
        except Exception as exc:  # torch raises many types for a bad archive
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FloodSarError(f"{path}: not a usable torch.export model ({reason}); "
                                "export it again with torch.export.save.") from exc
        self._torch = torch
        self.path = path
        self.module = program.module().to(self.device)
        self.description = f"torch {torch.__version__} ({self.device})"
        text = extra[TORCH_METADATA_FILE]
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        self.metadata_map = {METADATA_KEY: text} if text else {}

    def input_channels(self) -> int | None:
        return None

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            output = self.module(self._torch.from_numpy(batch).to(self.device))
        return output.float().cpu().numpy()
