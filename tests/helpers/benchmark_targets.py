"""Issues 6 and 14's performance targets, checked against the JSON of ``floodsar benchmark --json``.

Targets belong to the project's tests, not to the shipped benchmark:
``python tests/helpers/benchmark_targets.py bench.json`` prints each target as met, NOT met or
not measured (exit code 1 if one is not met).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

SPEEDUP_TARGET = 1.5
MEMORY_LIMIT_BYTES = 2e9
GPU_SCENE_TARGET_S = 60.0
#: Issue 14, on the 2-core development CPU: engine share of end-to-end wall time, full scene per precision.
ENGINE_SHARE_LIMIT = 0.10
CPU_SCENE_TARGET_S = {"fp32": 90.0, "int8": 45.0}


def targets(results: Dict[str, Any]) -> Dict[str, Optional[bool]]:
    """Each target: met (True/False) or None when the run could not measure it."""
    cpu = results["ratios"].get("cpu", {}).get("onnx/torch")
    gpu = [b for b in results["backends"] if b["device"] == "cuda"]
    onnx_cpu = [b for b in results["backends"] if b["backend"] == "onnx" and b["device"] == "cpu"]
    scene = {run["precision"]: run["seconds"] for run in results.get("full_scene", [])}
    return {
        f"ONNX Runtime on CPU >= {SPEEDUP_TARGET}x PyTorch eager (inference and end to end)":
            None if cpu is None else min(cpu.values()) >= SPEEDUP_TARGET,
        f"peak memory < {MEMORY_LIMIT_BYTES / 1e9:g} GB at every size":
            results["memory"]["largest_peak_rss_bytes"] < MEMORY_LIMIT_BYTES,
        f"GPU: full scene end to end < {GPU_SCENE_TARGET_S:g} s with the bundled model":
            None if not gpu or not results["model"]["bundled"]
            else all(b["full_scene_s"] < GPU_SCENE_TARGET_S for b in gpu),
        f"engine share <= {ENGINE_SHARE_LIMIT:.0%} of end-to-end wall time (ONNX Runtime on CPU, each precision)":
            None if not onnx_cpu else all(b["end_to_end"]["engine_share"] <= ENGINE_SHARE_LIMIT for b in onnx_cpu),
        **{f"full scene measured end to end on CPU, {name}: <= {limit:g} s (the 2-core development machine)":
           None if name not in scene or gpu else scene[name] <= limit for name, limit in CPU_SCENE_TARGET_S.items()},
    }


def main(argv: list[str]) -> int:
    results = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    verdicts = targets(results)
    for target, met in verdicts.items():
        print(f"{'not measured' if met is None else 'met' if met else 'NOT met'}: {target}")
    return 1 if False in verdicts.values() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
