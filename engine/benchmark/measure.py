"""The measurements: inference alone, end to end, a fresh process's peak memory, FLOPs and matmul rate."""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np

from ..errors import FloodSarError
from ..models import Model, ModelBackend, load_model
from ..pipeline import PredictionRequest, predict
from ..prefetch import ordered_map
from ..scene_statistics import SceneStatistics
from .scene import scene_db, speckle_bank

#: Untimed batches before inference is timed (kernel selection, caches, lazy allocation).
WARMUP_BATCHES = 2
#: Side of the square float32 matrices timed for the peak rate, and the least time spent on it.
MATMUL_SIZE, MATMUL_SECONDS = 2048, 1.0


def time_inference(model: Model, tile: int, tiles: int, batch: int) -> Dict[str, float]:
    """Run ``tiles`` normalised tiles (rounded up to whole batches) after a warm-up, as many batches at once
    as the engine runs (``model.streams``); rates per second.

    Mpx/s counts every pixel of the tile the model sees, overlap included.
    """
    tile_db = scene_db(0, 0, tile, tile, speckle_bank())[model.band_indices]
    scene = SceneStatistics.of_array(tile_db, np.ones(tile_db.shape[1:], dtype=bool))
    inputs = np.ascontiguousarray(np.repeat(model.metadata.normalise(tile_db, scene)[None], batch, axis=0))
    for _ in range(WARMUP_BATCHES):
        model.predict(inputs)
    batches = math.ceil(tiles / batch)
    started = time.perf_counter()
    for _ in ordered_map(lambda _: model.predict(inputs), range(batches), model.streams):
        pass
    seconds = time.perf_counter() - started
    done = batches * batch
    return {"tiles": done, "seconds": seconds, "tiles_per_s": done / seconds,
            "mpx_per_s": done * tile * tile / seconds / 1e6}


class TimedBackend:
    """A model backend that counts its calls and the wall seconds during which at least one was running (the
    model's share of a run; calls may overlap, ``streams`` at once: the backend's unless given)."""

    def __init__(self, backend: ModelBackend, streams: int | None = None) -> None:
        self.backend = backend
        self.description = backend.description
        self.device = backend.device
        self.streams = streams or backend.streams
        self.calls = 0
        self.seconds = 0.0
        self._running = 0
        self._busy_since = 0.0
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._running == 0:
                self._busy_since = time.perf_counter()
            self._running += 1
        try:
            return self.backend.run(batch)
        finally:
            with self._lock:
                self._running -= 1
                self.calls += 1
                if self._running == 0:
                    self.seconds += time.perf_counter() - self._busy_since


def time_end_to_end(request: PredictionRequest, tiles: int, pixels: int) -> Dict[str, float]:
    """Time a model load and :func:`predict` with that model; the outputs are deleted afterwards.

    ``seconds`` is the load plus the run; ``load_s`` the load (the fixed cost that a full-scene
    estimate must not scale with the raster); ``model_s`` the wall time during which at least one of the
    model's calls (``model_calls``) was running; ``engine_share`` the rest's share of ``seconds`` (the time
    the model waited for reading, normalising, stitching, writing, loading).
    """
    started = time.perf_counter()
    model = load_model(request.model, request.backend, request.device, trusted_by_user=request.trust_model)
    load_s = time.perf_counter() - started
    timed = TimedBackend(model.backend)
    model = dataclasses.replace(model, backend=timed)
    try:
        predict(request, model=model)
    finally:
        seconds = time.perf_counter() - started
        Path(request.output).unlink(missing_ok=True)
    return {"tiles": tiles, "seconds": seconds, "tiles_per_s": tiles / seconds, "mpx_per_s": pixels / seconds / 1e6,
            "load_s": load_s, "model_s": timed.seconds, "model_calls": timed.calls,
            "engine_share": 1.0 - timed.seconds / seconds}


#: Runs a command and prints its peak RSS (ru_maxrss), wall seconds and exit code. Linux counts in a
#: child's ru_maxrss the memory of the process it was forked from, so the measured command is started
#: from this small launcher rather than from the (large) benchmark process.
_LAUNCHER = """
import os, subprocess, sys, time
with open(sys.argv[1], "wb") as log:
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
print(usage.ru_maxrss, time.perf_counter() - started, child.returncode)
"""


def peak_rss(command: Sequence[str], log: Path) -> tuple[int, float]:
    """Run ``command`` to its end; (its peak resident set size in bytes, wall seconds).

    Read from the child's own resource usage (``wait4``); its output goes to ``log``.
    FloodSarError, with the child's last output line, when it fails.
    """
    if not hasattr(os, "wait4"):
        raise FloodSarError("measuring peak memory needs os.wait4 (Linux or macOS); run the benchmark there.")
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, str(log), *command], capture_output=True, text=True)
    try:
        maxrss, seconds, code = done.stdout.split()
    except ValueError:
        raise FloodSarError(f"could not measure the peak memory of {Path(command[0]).name} "
                            f"({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no output'})."
                            ) from None
    if int(code) != 0:
        lines = log.read_text(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {code}"
        raise FloodSarError(f"the measured command ({' '.join(Path(c).name for c in command[:5])} ...) failed "
                            f"({reason}); fix that and run the benchmark again.")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(maxrss) * scale, float(seconds)


def tile_flops(module: Any, channels: int, tile: int, device: str = "cpu") -> int:
    """FLOPs of one [1, channels, tile, tile] forward pass, counted by torch's FlopCounterMode.

    It counts convolutions and matrix products, 2 FLOPs per multiply-add; element-wise work is free.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sample = torch.zeros(1, channels, tile, tile, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(sample)
    return int(counter.get_total_flops())


def matmul_gflops(device: str = "cpu", size: int = MATMUL_SIZE) -> tuple[float, str]:
    """Best float32 GFLOP/s of a size x size matmul on ``device`` (all threads); and what ran it."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        a, b = (torch.rand(size, size, device=device) for _ in range(2))
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        run, library = (lambda: torch.matmul(a, b)), f"torch {torch.__version__}"
    else:
        if device != "cpu":
            raise FloodSarError("measuring the GPU matmul rate needs torch; install it or use --device cpu.")
        a, b = (np.random.default_rng(i).random((size, size), dtype=np.float32) for i in range(2))
        sync, run, library = (lambda: None), (lambda: a @ b), f"numpy {np.__version__}"
    run()
    sync()
    best, spent, repeats = math.inf, 0.0, 0
    while repeats < 3 or spent < MATMUL_SECONDS:
        started = time.perf_counter()
        run()
        sync()
        elapsed = time.perf_counter() - started
        best, spent, repeats = min(best, elapsed), spent + elapsed, repeats + 1
    return 2.0 * size ** 3 / best / 1e9, library
