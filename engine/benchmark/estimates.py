"""Figures derived from the measurements: full-scene time, memory growth, backend ratios."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

#: A Sentinel-1 IW GRD scene at 10 m: about 25,000 x 17,000 pixels.
SCENE_WIDTH, SCENE_HEIGHT = 25_000, 17_000
SCENE_PIXELS = SCENE_WIDTH * SCENE_HEIGHT


def scene_seconds(seconds: float, pixels: int, fixed_s: float = 0.0) -> float:
    """Seconds for a full scene from a run of ``seconds`` on ``pixels``: ``fixed_s`` (start-up, model
    loading) once, the rest scaled by pixels."""
    if not 0 <= fixed_s < seconds:
        fixed_s = 0.0
    return fixed_s + (seconds - fixed_s) * SCENE_PIXELS / pixels


def _fresh_scene_seconds(runs: List[Dict[str, Any]]) -> Optional[float]:
    """Full-scene seconds of a fresh process from the line through the smallest and largest runs
    (start-up + per-pixel time); None without two sizes that give such a line."""
    small, large = runs[0], runs[-1]
    if large["size"] <= small["size"] or large["seconds"] <= small["seconds"]:
        return None
    per_pixel = (large["seconds"] - small["seconds"]) / (large["size"] ** 2 - small["size"] ** 2)
    return scene_seconds(large["seconds"], large["size"] ** 2, large["seconds"] - per_pixel * large["size"] ** 2)


def memory_summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Peak RSS per size and its growth, with a worst case for a full scene: the line through the smallest
    and largest runs, extended (memory that is bounded stops growing; memory that grows is not missed)."""
    small, large = runs[0], runs[-1]
    largest = max(r["peak_rss_bytes"] for r in runs)
    slope = scene = None
    if large["size"] > small["size"]:
        slope = (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / (large["size"] ** 2 - small["size"] ** 2)
        scene = large["peak_rss_bytes"] + max(slope, 0.0) * max(SCENE_PIXELS - large["size"] ** 2, 0)
    return {"runs": runs, "largest_peak_rss_bytes": largest,
            "growth": large["peak_rss_bytes"] / small["peak_rss_bytes"], "bytes_per_extra_pixel": slope,
            "full_scene_worst_case_rss_bytes": scene, "fresh_full_scene_s": _fresh_scene_seconds(runs)}


def ratios(backends: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """Throughput ratios on each device: ONNX Runtime / PyTorch (fp32), and int8 / fp32 in ONNX Runtime."""
    by = {(b["variant"], b["device"]): b for b in backends}
    pairs = {"onnx/torch": ("onnx", "torch"), "int8/fp32": ("onnx-int8", "onnx")}
    found: Dict[str, Dict[str, float]] = {}
    for device in sorted({b["device"] for b in backends}):
        for name, (top, bottom) in pairs.items():
            a, b = by.get((top, device)), by.get((bottom, device))
            if a and b:
                found.setdefault(device, {})[name] = {kind: a[kind]["tiles_per_s"] / b[kind]["tiles_per_s"]
                                                      for kind in ("inference", "end_to_end")}
    return found
