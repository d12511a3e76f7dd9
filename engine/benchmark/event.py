"""Scenes per minute of ``floodsar batch`` with 1, 2, 4 ... Dask workers on this machine.

    python -m floodsar.engine.benchmark.event [--workers 1 2 4] [--scenes 8] [--size 1024] [--method model]

The scenes are copies of the bundled real Sentinel-1 chip (Sen1Floods11, Spain) resampled to
SIZE x SIZE pixels (bilinear), so that one scene takes seconds. For each worker count a fresh
local Dask cluster is started (its start time is reported apart) and every scene is mapped
through the same runner as ``floodsar batch``; the rate is scenes / wall time from the first
submission to the last result, model loading included (once per worker).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ..choices import Method, values
from ..event.inputs import plan_scenes
from ..event.runner import DONE, SceneJob, dask_client, run_scenes, threads_per_local_worker
from ..models import DEFAULT_MODEL
from ..pipeline import PredictionRequest
from ..predict_options import settings
from .machine import machine_info

SAMPLE = DEFAULT_MODEL.parents[1] / "sample" / "Spain_7370579_S1Hand.tif"


def make_scenes(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` copies of the sample chip resampled to ``size`` px square, in ``folder``."""
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(SAMPLE) as chip:
        data = chip.read(out_shape=(chip.count, size, size), resampling=Resampling.bilinear)
        profile = chip.profile.copy()
        profile.update(width=size, height=size, transform=chip.transform * chip.transform.scale(
            chip.width / size, chip.height / size), tiled=True, blockxsize=256, blockysize=256)
    paths = [folder / f"scene{i:03d}.tif" for i in range(count)]
    with rasterio.open(paths[0], "w", **profile) as out:
        out.write(data)
    for path in paths[1:]:  # copies: compressing each again would take longer than mapping it
        shutil.copyfile(paths[0], path)
    return paths


def measure(workers: int, scenes: Sequence[Path], method: str, folder: Path) -> dict[str, Any]:
    """Map ``scenes`` on a fresh local cluster of ``workers`` processes; timings in seconds."""
    outdir = folder / f"out{workers}"
    outdir.mkdir()
    jobs = []
    for scene in plan_scenes([str(p) for p in scenes], outdir):
        request = PredictionRequest(inputs=list(scene.inputs), output=scene.output, method=method)
        jobs.append(SceneJob(scene, request, settings(request), pixels=0))
    started = time.perf_counter()
    with dask_client(None, workers) as client:
        ready = time.perf_counter()
        outcomes = run_scenes(client, jobs, lambda outcome: None, threads_per_local_worker(workers))
        finished = time.perf_counter()
    failed = [o.reason for o in outcomes if o.status != DONE]
    if failed:
        raise RuntimeError(f"{len(failed)} scenes failed: {failed[0]}")
    wall = finished - ready
    return {"workers": workers, "scenes": len(jobs), "cluster_start_s": round(ready - started, 2),
            "wall_s": round(wall, 2), "scenes_per_minute": round(60 * len(jobs) / wall, 2),
            "mean_scene_s": round(sum(o.result["seconds"] for o in outcomes) / len(outcomes), 2)}


def format_table(rows: Sequence[dict[str, Any]], size: int, method: str, machine: dict[str, Any]) -> str:
    base = rows[0]["scenes_per_minute"]
    lines = [f"{rows[0]['scenes']} scenes of {size} x {size} px, --method {method}; {machine['cpu']}, "
             f"{machine['usable_cores']} usable cores, load average {machine['load_average']:.1f} at the start",
             "", "| workers | scenes/min | speed-up | wall s | mean s per scene | cluster start s |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['scenes_per_minute']:.1f} | {r['scenes_per_minute'] / base:.2f}x | "
              f"{r['wall_s']:.1f} | {r['mean_scene_s']:.1f} | {r['cluster_start_s']:.1f} |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.engine.benchmark.event", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4], metavar="N")
    parser.add_argument("--scenes", type=int, default=8, metavar="N", help="scenes per run (default 8)")
    parser.add_argument("--size", type=int, default=1024, metavar="PX", help="scene side in pixels (default 1024)")
    parser.add_argument("--method", choices=values(Method), default=Method.MODEL.value)
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the numbers and the machine")
    args = parser.parse_args(argv)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="floodsar-event-bench-") as name:
        folder = Path(name)
        scenes = make_scenes(folder, args.scenes, args.size)
        rows = [measure(workers, scenes, args.method, folder) for workers in args.workers]
    print(format_table(rows, args.size, args.method, machine))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "size": args.size, "method": args.method,
                                         "runs": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
