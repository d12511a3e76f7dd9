"""Python dependencies inside QGIS: detect what is missing, build the pip command, extend sys.path.

QGIS ships its own Python with its own numpy and GDAL. Extra packages go into a
folder of their own, one per Python runtime (``python3.11-linux-x86_64``...),
installed with QGIS's own Python executable while pinning QGIS's numpy, and the
folder is *appended* to ``sys.path`` so QGIS's numpy and GDAL always win.
This module does not import qgis, so it is testable anywhere.
"""
from __future__ import annotations

import importlib.util
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..engine.backends import PROVIDER_DEVICES


#: Where the plugin's installer is in the QGIS menus.
INSTALL_MENU = "Raster > FloodSAR > Install Python dependencies…"


@dataclass(frozen=True)
class Dependency:
    """An importable module, the pip requirement that provides it and why FloodSAR needs it."""

    module: str
    requirement: str
    purpose: str
    required: bool


#: Versions pinned to the major releases FloodSAR is tested with (wheels for every Python QGIS ships).
DEPENDENCIES = (
    Dependency("onnxruntime", "onnxruntime>=1.20,<2", "runs the flood model (CPU, or GPU with onnxruntime-gpu)",
               True),
    Dependency("torch", "torch>=2.4,<3", "optional PyTorch backend for GPUs", False),
)


def missing(dependencies: Sequence[Dependency] = DEPENDENCIES) -> list[Dependency]:
    """The dependencies whose module cannot be imported in this Python."""
    return [dep for dep in dependencies if importlib.util.find_spec(dep.module) is None]


def runtime_tag() -> str:
    """A folder name that identifies this Python runtime, e.g. ``python3.11-linux-x86_64``."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}-{sys.platform}-{platform.machine().lower()}"


def dependency_folder(base: Path) -> Path:
    """Where FloodSAR installs packages for this Python runtime, under ``base``."""
    return Path(base) / runtime_tag()


def add_to_sys_path(folder: Path) -> bool:
    """Append ``folder`` to ``sys.path`` (after QGIS's own packages) if it exists; True if added."""
    folder_str = str(folder)
    if not Path(folder).is_dir() or folder_str in sys.path:
        return False
    sys.path.append(folder_str)
    importlib.invalidate_caches()
    return True


def python_executable() -> Path:
    """QGIS's own Python interpreter.

    Inside QGIS ``sys.executable`` is the QGIS program itself on Linux and
    Windows, so look for the interpreter next to the running Python's prefix.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.executable)]
    for prefix in dict.fromkeys((sys.exec_prefix, sys.base_exec_prefix)):
        candidates += [Path(prefix, "python.exe"), Path(prefix, "python3.exe"),
                       Path(prefix, "bin", f"python{version}"), Path(prefix, "bin", "python3")]
    for candidate in candidates:
        if candidate.name.lower().startswith("python") and candidate.is_file():
            return candidate
    raise FileNotFoundError(f"QGIS's Python {version} interpreter was not found under {sys.exec_prefix}")


def pip_command(python: Path, target: Path, requirements: Sequence[str], numpy_version: str,
                constraints_file: Path) -> list[str]:
    """The pip command that installs ``requirements`` into ``target`` without replacing QGIS's numpy.

    ``constraints_file`` is written with ``numpy==<numpy_version>`` so the resolver
    picks wheels built for the numpy QGIS already has. Wheels only: no package's build
    script runs on the user's computer.
    """
    Path(constraints_file).write_text(f"numpy=={numpy_version}\n", encoding="utf-8")
    return [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--only-binary=:all:",
            "--upgrade", "--target", str(target), "--constraint", str(constraints_file), *requirements]


def shell_command(command: Sequence[str]) -> str:
    """``command`` quoted for this system's shell, to show a user who runs it by hand."""
    return subprocess.list2cmdline(command) if sys.platform == "win32" else shlex.join(command)


@dataclass(frozen=True)
class GpuStatus:
    """Whether a GPU can run the model, and a one-line explanation for the panel."""

    available: bool
    description: str


def gpu_status() -> GpuStatus:
    """What ONNX Runtime in this Python can run the model on (the engine's providers; imported only if installed)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return GpuStatus(False, f"ONNX Runtime is not installed: only the Otsu baseline can run ({INSTALL_MENU}).")
    import onnxruntime

    providers = [p for p in onnxruntime.get_available_providers() if p in PROVIDER_DEVICES]
    names = ", ".join(p.replace("ExecutionProvider", "") for p in providers) or "nothing FloodSAR uses"
    gpus = [p for p in providers if PROVIDER_DEVICES.get(p) == "cuda"]
    if gpus:
        return GpuStatus(True, f"ONNX Runtime {onnxruntime.__version__} can use: {names}.")
    return GpuStatus(False, f"ONNX Runtime {onnxruntime.__version__} can use: {names} (no GPU provider; "
                            "install onnxruntime-gpu for CUDA).")
