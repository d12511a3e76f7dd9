"""Where training runs: the device choices of every training command, made in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..engine.errors import FloodSarError

if TYPE_CHECKING:
    import torch

#: What ``--device`` and ``run.device`` accept.
DEVICES = ("auto", "cpu", "cuda")


def pick_device(device: Optional[str] = "auto") -> "torch.device":
    """CUDA when asked for or (auto, or None) available, else CPU."""
    import torch

    device = device or "auto"
    if device not in DEVICES:
        raise FloodSarError(f"device must be one of {', '.join(DEVICES)}, not {device!r}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise FloodSarError("--device cuda: PyTorch sees no CUDA GPU; use --device cpu or auto.")
    return torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
