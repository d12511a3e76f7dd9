"""What ran the benchmark: CPU, cores, RAM, GPU, load and library versions."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
from pathlib import Path
from typing import Any, Dict

import numpy as np

from ..backends import usable_cores


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
    """The machine and the versions of the libraries that did the work."""
    import onnxruntime
    import rasterio

    info: Dict[str, Any] = {
        "cpu": _cpu_name(), "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "ram_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__, "onnxruntime_providers": onnxruntime.get_available_providers(),
        "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__,
        "torch": None, "torch_threads": None, "gpu": None,
    }
    if importlib.util.find_spec("torch") is not None:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info
