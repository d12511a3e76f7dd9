"""Which PyTorch model files FloodSAR may open: a ``.pt2`` can run code, so only trusted ones.

``torch.export.load`` unpickles parts of a ``.pt2`` archive without restriction, so opening a
crafted file runs whatever its author wrote. ONNX files are plain data (protobuf) and ONNX
Runtime refuses external weight files outside the model's folder, so they need no such check.

A ``.pt2`` is loaded only when its SHA-256 is listed in :data:`CHECKSUMS_FILE` (the bundled
model's, recorded when it is exported), or when the user says they trust that file. The bytes
are read once, checked and loaded from memory: the file cannot be swapped between check and load.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from .errors import FloodSarError, OptionError

#: ``sha256sum`` lines of the model files shipped with FloodSAR.
CHECKSUMS_FILE = Path(__file__).resolve().parents[1] / "resources" / "models" / "SHA256SUMS"


@lru_cache(maxsize=1)
def trusted_checksums() -> frozenset[str]:
    """SHA-256 digests (lower-case hex) of the bundled model files; empty when none are recorded."""
    if not CHECKSUMS_FILE.is_file():
        return frozenset()
    lines = CHECKSUMS_FILE.read_text(encoding="ascii").splitlines()
    return frozenset(line.split()[0].lower() for line in lines if line.strip())


def read_pt2(path: Path, trusted_by_user: bool) -> bytes:
    """The bytes of a ``.pt2`` model that may be loaded; FloodSarError for one that may not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FloodSarError(f"{path}: cannot read the model file ({exc.strerror}); check the path.") from exc
    if trusted_by_user or hashlib.sha256(data).hexdigest() in trusted_checksums():
        return data
    raise OptionError(
        "trust_model", False, "not opened: a PyTorch .pt2 file can run programs on this computer when it is opened, "
        "and this one is not the bundled FloodSAR model",
        "use its .onnx twin with the ONNX backend, or, only if you made the file or trust where it came from, "
        "say so with {trust_model}", path)
