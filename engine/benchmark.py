"""``floodsar benchmark``: throughput, peak memory and full-scene time on generated rasters.

One run measures, with the same model for every backend (ONNX Runtime, PyTorch eager on the
``.pt2`` twin), so that ratios hold on a noisy machine:

- inference alone: N tiles of the model's input size after a warm-up, batched as the pipeline does;
- end to end: :func:`floodsar.engine.pipeline.predict` on a generated raster (read + infer + write),
  and from it the time for a full Sentinel-1 scene;
- peak resident memory of one fresh ``floodsar predict`` process per raster size;
- model FLOPs per tile (``torch.utils.flop_counter``) against a measured float32 matmul rate.

The rasters are 2-band float32 dB GeoTIFFs (VV, VH) at 10 m in UTM, water shapes plus speckle,
written block by block so that a 16,000 px raster needs no more memory than a 512 px one.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from . import raster_io
from .backends import BACKENDS, DEVICES
from .errors import FloodSarError
from .models import DEFAULT_MODEL, SUFFIXES, Model, load_model, resolve_model_path
from .pipeline import DEFAULT_BATCH, PredictionRequest, predict
from .tiling import plan_tiles

#: A Sentinel-1 IW GRD scene at 10 m: about 25,000 x 17,000 pixels.
SCENE_WIDTH, SCENE_HEIGHT = 25_000, 17_000
SCENE_PIXELS = SCENE_WIDTH * SCENE_HEIGHT
#: Targets of issue 6.
SPEEDUP_TARGET = 1.5
MEMORY_LIMIT_BYTES = 2e9
GPU_SCENE_TARGET_S = 60.0
#: Load average per usable core above which the report warns that the machine was busy.
BUSY_LOAD = 0.5
#: Untimed batches before inference is timed (kernel selection, caches, lazy allocation).
WARMUP_BATCHES = 2
#: Side of the square float32 matrices timed for the peak rate, and the least time spent on it.
MATMUL_SIZE, MATMUL_SECONDS = 2048, 1.0
BACKEND_NAMES = {"onnx": "ONNX Runtime", "torch": "PyTorch"}

# Generated rasters: 10 m pixels in UTM 33N, mean backscatter (dB) of water and land for VV and VH,
# speckle of a 4-look intensity product drawn once into a few blocks and reused.
EPSG, PIXEL_M, ORIGIN = 32633, 10.0, (500_000.0, 5_000_000.0)
WATER_DB, LAND_DB = (-20.0, -27.0), (-8.0, -15.0)
LOOKS, SPECKLE_BLOCKS = 4, 4
BLOCK = int(raster_io.GTIFF_OPTIONS["BLOCKXSIZE"])
#: Input GeoTIFF options: the engine's, with fast compression (speckle hardly compresses anyway).
INPUT_OPTIONS = {**raster_io.GTIFF_OPTIONS, "PREDICTOR": raster_io.PREDICTOR["float32"], "ZLEVEL": "1"}

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(f"floodsar benchmark: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- generated rasters

def speckle_bank(seed: int = 0) -> np.ndarray:
    """float32 [SPECKLE_BLOCKS, 2, BLOCK, BLOCK]: speckle in dB (gamma-distributed intensity, mean 1)."""
    rng = np.random.default_rng(seed)
    bank = rng.standard_gamma(LOOKS, size=(SPECKLE_BLOCKS, 2, BLOCK, BLOCK), dtype=np.float32)
    np.log10(bank / LOOKS, out=bank)
    return np.multiply(bank, 10.0, out=bank)


def scene_db(row: int, col: int, height: int, width: int, bank: np.ndarray) -> np.ndarray:
    """float32 [2, height, width] VV, VH in dB of the generated scene at a pixel window.

    Water is a meandering river every 1,000 rows and a round lake in every 700 x 700 px cell (the
    first one within 256 px of the origin); the rest is land.
    """
    rows = np.arange(row, row + height)
    cols = np.arange(col, col + width)
    r, c = rows[:, None].astype(np.float32), cols[None, :].astype(np.float32)
    river = np.abs((r + 150.0 * np.sin(c / 230.0)) % 1000.0 - 500.0) < 30.0
    lake = (r % 700.0 - 150.0) ** 2 + (c % 700.0 - 150.0) ** 2 < 100.0 ** 2
    water = river | lake
    mean = np.where(water, np.array(WATER_DB, np.float32)[:, None, None],
                    np.array(LAND_DB, np.float32)[:, None, None])
    noise = bank[(row // BLOCK * 3 + col // BLOCK) % len(bank)]
    return (mean + noise[:, rows % BLOCK][:, :, cols % BLOCK]).astype(np.float32)


def generate_raster(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write the generated scene as a tiled, compressed GeoTIFF, one 512 px block at a time."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.windows import Window

    bank = speckle_bank(seed)
    transform = rasterio.Affine(PIXEL_M, 0.0, ORIGIN[0], 0.0, -PIXEL_M, ORIGIN[1])
    with raster_io.atomic_output(path) as tmp, \
            rasterio.open(tmp, "w", driver="GTiff", width=width, height=height, count=2, dtype="float32",
                          crs=CRS.from_epsg(EPSG), transform=transform, **INPUT_OPTIONS) as ds:
        ds.set_band_description(1, "VV")
        ds.set_band_description(2, "VH")
        for row in range(0, height, BLOCK):
            for col in range(0, width, BLOCK):
                h, w = min(BLOCK, height - row), min(BLOCK, width - col)
                ds.write(scene_db(row, col, h, w, bank), window=Window(col, row, w, h))
    return path


def _raster_for(size: int, workdir: Path, say: Say) -> Path:
    """The generated size x size raster in ``workdir`` (reused when a previous run left it)."""
    path = workdir / f"benchmark_{size}.tif"
    if path.is_file():
        with contextlib.suppress(FloodSarError), raster_io.open_raster(path, "rasterio") as raster:
            if (raster.grid.width, raster.grid.height, raster.count) == (size, size, 2):
                return path
    say(f"generating a {size} x {size} px raster in {workdir}")
    started = time.perf_counter()
    generate_raster(path, size, size)
    say(f"  {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")
    return path


# ----------------------------------------------------------------------------- measurements

def time_inference(model: Model, tile: int, tiles: int, batch: int) -> Dict[str, float]:
    """Run ``tiles`` normalised tiles (rounded up to whole batches) after a warm-up; rates per second.

    Mpx/s counts every pixel of the tile the model sees, overlap included.
    """
    bank = speckle_bank()
    tile_db = scene_db(0, 0, tile, tile, bank)[model.band_indices]
    inputs = np.ascontiguousarray(np.repeat(model.metadata.normalise(tile_db)[None], batch, axis=0))
    for _ in range(WARMUP_BATCHES):
        model.predict(inputs)
    batches = math.ceil(tiles / batch)
    started = time.perf_counter()
    for _ in range(batches):
        model.predict(inputs)
    seconds = time.perf_counter() - started
    done = batches * batch
    return {"tiles": done, "seconds": seconds, "tiles_per_s": done / seconds,
            "mpx_per_s": done * tile * tile / seconds / 1e6}


def time_end_to_end(request: PredictionRequest, tiles: int, pixels: int) -> Dict[str, float]:
    """Time :func:`predict` (model loading included); the outputs are deleted afterwards.

    ``load_s`` is a model load timed just before, as warm as the one inside :func:`predict`: the fixed
    cost that a full-scene estimate must not scale with the raster.
    """
    started = time.perf_counter()
    load_model(request.model, request.backend, request.device)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        predict(request)
    finally:
        seconds = time.perf_counter() - started
        Path(request.output).unlink(missing_ok=True)
    return {"tiles": tiles, "seconds": seconds, "tiles_per_s": tiles / seconds, "mpx_per_s": pixels / seconds / 1e6,
            "load_s": load_s}


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


# ----------------------------------------------------------------------------- the machine

def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, Any]:
    """What ran the benchmark: CPU, cores, RAM, GPU, load and library versions."""
    import onnxruntime
    import rasterio

    info: Dict[str, Any] = {
        "cpu": _cpu_name(), "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
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


# ----------------------------------------------------------------------------- the run

@dataclass
class BenchmarkOptions:
    """What to measure; ``None`` for model/tile/overlap/batch means the engine's defaults."""

    model: Optional[Path] = None
    backends: Sequence[str] = BACKENDS
    device: str = "auto"
    sizes: Sequence[int] = (4000, 16000)
    throughput_size: Optional[int] = None
    tile: Optional[int] = None
    overlap: Optional[int] = None
    batch: Optional[int] = None
    inference_tiles: int = 16
    repeats: int = 1
    memory_backend: Optional[str] = None
    workdir: Optional[Path] = None


def _check(options: BenchmarkOptions) -> None:
    optional = {"--throughput-size": (options.throughput_size, 1), "--tile": (options.tile, 1),
                "--overlap": (options.overlap, 0), "--batch": (options.batch, 1)}
    checks = [("--sizes", list(options.sizes), 1), ("--inference-tiles", [options.inference_tiles], 1),
              ("--repeats", [options.repeats], 1)]
    checks += [(name, [value], least) for name, (value, least) in optional.items() if value is not None]
    for name, values, least in checks:
        if not values or any(v < least for v in values):
            raise FloodSarError(f"{name} must be whole numbers of at least {least}, not "
                                f"{' '.join(str(v) for v in values)}.")
    unknown = [b for b in options.backends if b not in BACKENDS]
    if unknown or not options.backends:
        raise FloodSarError(f"unknown backends {unknown}; use --backends onnx torch (one or both).")
    if options.device not in DEVICES:
        raise FloodSarError(f"unknown device {options.device!r}; use --device auto, cpu or cuda.")


def model_files(model: Optional[Path], backends: Sequence[str]) -> tuple[Dict[str, Path], List[str]]:
    """The model file of each usable backend, and notes on the backends skipped.

    The PyTorch backend runs the ``.pt2`` twin beside the ``.onnx`` (as the training export
    writes them); without it, or without torch installed, PyTorch is skipped. FloodSarError
    when no backend is left (e.g. the model file does not exist).
    """
    files: Dict[str, Path] = {}
    notes: List[str] = []
    errors: List[FloodSarError] = []
    if model is None and not DEFAULT_MODEL.is_file():
        raise FloodSarError(f"no bundled model found at {DEFAULT_MODEL} (training/configs/bundled.toml says how to "
                            "build it); pass a FloodSAR model with --model PATH.")
    for backend in dict.fromkeys(backends):
        if backend == "torch" and importlib.util.find_spec("torch") is None:
            notes.append("PyTorch skipped: torch is not installed (pip install torch).")
            continue
        try:
            files[backend] = resolve_model_path(model, backend)
        except FloodSarError as exc:
            source = Path(model) if model is not None else DEFAULT_MODEL
            if not source.is_file():
                raise
            errors.append(exc)
            notes.append(f"{BACKEND_NAMES[backend]} skipped: there is no {source.with_suffix(SUFFIXES[backend]).name} "
                         f"beside {source} (floodsar.training.export writes the .onnx and the .pt2 together).")
    if not files:
        raise errors[0] if errors else FloodSarError("no backend left to benchmark; install torch or use "
                                                     "--backends onnx.")
    return files, notes


@contextlib.contextmanager
def _workdir(folder: Optional[Path]) -> Iterator[Path]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="floodsar-benchmark-") as tmp:
        yield Path(tmp)


@dataclass
class _Setup:
    """What every measurement shares: the model files and loaded models, tiling and batches."""

    files: Dict[str, Path]
    models: Dict[str, Model]
    load_s: Dict[str, float]
    tile: int
    overlap: int
    batches: Dict[str, int]
    throughput_size: int
    throughput_tiles: int
    memory_backend: str


def _prepare(options: BenchmarkOptions, notes: List[str]) -> _Setup:
    """Check the options, find and load the models, plan the tiles: every error before any long work."""
    _check(options)
    files, skipped = model_files(options.model, options.backends)
    notes += skipped
    memory_backend = options.memory_backend or ("onnx" if "onnx" in files else next(iter(files)))
    if memory_backend not in files:
        raise FloodSarError(f"--memory-backend {memory_backend} is not among the backends benchmarked "
                            f"({', '.join(files)}); choose one of them.")
    models, load_s = {}, {}
    for backend, path in files.items():
        started = time.perf_counter()
        models[backend] = load_model(path, backend, options.device)
        load_s[backend] = time.perf_counter() - started
    metadata = next(iter(models.values())).metadata
    tile = metadata.tile_size if options.tile is None else options.tile
    overlap = metadata.overlap if options.overlap is None else options.overlap
    size = options.throughput_size or min(options.sizes)
    plan = plan_tiles(size, size, tile, overlap, metadata.stride)  # FloodSarError for a bad tile or overlap
    batches = {b: options.batch or DEFAULT_BATCH[m.backend.device] for b, m in models.items()}
    return _Setup(files, models, load_s, tile, overlap, batches, size, len(plan), memory_backend)


def _measure_throughput(setup: _Setup, options: BenchmarkOptions, workdir: Path, say: Say
                        ) -> tuple[Dict[str, List[Dict[str, float]]], Dict[str, List[Dict[str, float]]]]:
    """Inference-only and end-to-end runs per backend: (inference, end_to_end), one run per round each."""
    size = setup.throughput_size
    raster = _raster_for(size, workdir, say)
    inference: Dict[str, List[Dict[str, float]]] = {b: [] for b in setup.models}
    end_to_end: Dict[str, List[Dict[str, float]]] = {b: [] for b in setup.models}
    for repeat in range(options.repeats):  # backends interleaved: drifting machine load hits all alike
        rounds = f"round {repeat + 1} of {options.repeats}"
        for backend, model in setup.models.items():
            say(f"inference, {BACKEND_NAMES[backend]}: {options.inference_tiles} tiles of {setup.tile} px ({rounds})")
            inference[backend].append(time_inference(model, setup.tile, options.inference_tiles,
                                                     setup.batches[backend]))
        for backend in setup.models:
            say(f"end to end, {BACKEND_NAMES[backend]}: {size} x {size} px ({rounds})")
            request = PredictionRequest(inputs=[raster], output=workdir / f"mask_{backend}.tif",
                                        model=setup.files[backend], backend=backend, device=options.device,
                                        tile=options.tile, overlap=options.overlap, batch=options.batch)
            end_to_end[backend].append(time_end_to_end(request, setup.throughput_tiles, size * size))
    return inference, end_to_end


def _memory_command(raster: Path, output: Path, setup: _Setup, options: BenchmarkOptions) -> List[str]:
    """``floodsar predict`` of ``raster`` with the benchmark's model, backend and tiling."""
    backend = setup.memory_backend
    command = [sys.executable, "-m", f"{__package__}.cli", "predict", str(raster), "-o", str(output),
               "--model", str(setup.files[backend]), "--backend", backend, "--device", options.device]
    for name in ("tile", "overlap", "batch"):
        value = getattr(options, name)
        command += [f"--{name}", str(value)] if value is not None else []
    return command


def _measure_memory(setup: _Setup, options: BenchmarkOptions, workdir: Path, say: Say) -> List[Dict[str, Any]]:
    """Peak RSS and wall time of a fresh ``floodsar predict`` process per raster size, smallest first."""
    runs = []
    for size in sorted(set(options.sizes)):
        raster = _raster_for(size, workdir, say)
        say(f"peak memory: a fresh floodsar predict ({setup.memory_backend}) on {size} x {size} px")
        output = workdir / f"memory_{size}.tif"
        try:
            rss, seconds = peak_rss(_memory_command(raster, output, setup, options), workdir / f"memory_{size}.log")
        finally:
            output.unlink(missing_ok=True)
        runs.append({"size": size, "peak_rss_bytes": rss, "seconds": seconds})
    return runs


def _backend_entry(backend: str, setup: _Setup, inference: List[Dict[str, float]],
                   end_to_end: List[Dict[str, float]], flops: Optional[int],
                   peaks: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One backend's numbers: its best runs (highest rate), all runs, full-scene time, share of the peak."""
    model = setup.models[backend]
    best_inference = max(inference, key=lambda r: r["tiles_per_s"])
    best_end_to_end = max(end_to_end, key=lambda r: r["tiles_per_s"])
    entry = {"backend": backend, "device": model.backend.device, "runtime": model.backend.description,
             "model_file": str(setup.files[backend]), "batch": setup.batches[backend], "first_load_s": setup.load_s[backend],
             "inference": best_inference, "end_to_end": best_end_to_end,
             "inference_runs": inference, "end_to_end_runs": end_to_end,
             "full_scene_s": scene_seconds(best_end_to_end["seconds"], setup.throughput_size ** 2,
                                           best_end_to_end["load_s"])}
    if flops is not None:
        entry["inference_gflops"] = flops * best_inference["tiles_per_s"] / 1e9
        entry["peak_fraction"] = entry["inference_gflops"] / peaks[model.backend.device]["gflops"]
    return entry


def run_benchmark(options: BenchmarkOptions, say: Say = _say) -> Dict[str, Any]:
    """Measure everything ``options`` asks for; a JSON-ready dict (see :func:`format_report`)."""
    notes: List[str] = []
    setup = _prepare(options, notes)
    machine = machine_info()
    say(f"machine: {machine['cpu']}, {machine['usable_cores']} cores; backends: {', '.join(setup.files)}")
    if machine["load_average"] is not None and machine["load_average"] >= BUSY_LOAD * machine["usable_cores"]:
        notes.append(f"the machine was busy (load average {machine['load_average']:.1f} on "
                     f"{machine['usable_cores']} cores): other work competes for the cores and the numbers, "
                     "ratios included, may be far off; run again on an idle machine.")
    metadata = next(iter(setup.models.values())).metadata
    with _workdir(options.workdir) as workdir:
        inference, end_to_end = _measure_throughput(setup, options, workdir, say)
        flops = None
        if "torch" in setup.models:
            say("counting FLOPs per tile")
            torch_backend = setup.models["torch"].backend
            flops = tile_flops(torch_backend.module, len(metadata.bands), setup.tile, torch_backend.device)
        else:
            notes.append("FLOPs per tile not counted: that needs the PyTorch (.pt2) model and torch.")
        peaks = {}
        for device in sorted({m.backend.device for m in setup.models.values()}):
            say(f"timing a {MATMUL_SIZE} x {MATMUL_SIZE} float32 matmul on {device}")
            rate, library = matmul_gflops(device)
            peaks[device] = {"gflops": rate, "library": library, "size": MATMUL_SIZE}
        memory_runs = _measure_memory(setup, options, workdir, say)
    backends = [_backend_entry(b, setup, inference[b], end_to_end[b], flops, peaks) for b in setup.models]
    bundled = options.model is None or Path(options.model).resolve().with_suffix("") == DEFAULT_MODEL.with_suffix("")
    results: Dict[str, Any] = {
        "machine": machine,
        "model": {"name": metadata.name, "files": {b: str(p) for b, p in setup.files.items()}, "bundled": bundled,
                  "tile": setup.tile, "overlap": setup.overlap, "stride": metadata.stride, "flops_per_tile": flops},
        "settings": {"throughput_size": setup.throughput_size, "throughput_tiles": setup.throughput_tiles,
                     "sizes": sorted(set(options.sizes)), "inference_tiles": options.inference_tiles,
                     "repeats": options.repeats, "device": options.device, "memory_backend": setup.memory_backend,
                     "scene": [SCENE_WIDTH, SCENE_HEIGHT]},
        "matmul": peaks, "backends": backends, "memory": _memory_summary(memory_runs),
        "ratios": _ratios(backends), "notes": notes}
    results["targets"] = _targets(results)
    return results


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


def _memory_summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
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
            "full_scene_worst_case_rss_bytes": scene, "under_limit": largest < MEMORY_LIMIT_BYTES,
            "fresh_full_scene_s": _fresh_scene_seconds(runs)}


def _ratios(backends: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """ONNX Runtime / PyTorch throughput on each device both ran on."""
    by = {(b["backend"], b["device"]): b for b in backends}
    ratios = {}
    for device in sorted({b["device"] for b in backends}):
        onnx, torch = by.get(("onnx", device)), by.get(("torch", device))
        if onnx and torch:
            ratios[device] = {kind: onnx[kind]["tiles_per_s"] / torch[kind]["tiles_per_s"]
                              for kind in ("inference", "end_to_end")}
    return ratios


def _targets(results: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Issue 6's targets: met (True/False) or None when this run could not measure them."""
    cpu = results["ratios"].get("cpu")
    speedup = {"met": None if cpu is None else min(cpu.values()) >= SPEEDUP_TARGET, "ratios": cpu}
    memory = results["memory"]
    gpu = [b for b in results["backends"] if b["device"] == "cuda"]
    scene = {"met": None if not gpu else all(b["full_scene_s"] < GPU_SCENE_TARGET_S for b in gpu),
             "seconds": {b["backend"]: b["full_scene_s"] for b in gpu}, "bundled_model": results["model"]["bundled"]}
    return {"onnx_cpu_speedup": speedup, "memory": {"met": memory["under_limit"]},
            "gpu_full_scene": scene}


# ----------------------------------------------------------------------------- the report

def _num(value: float) -> str:
    """Three significant figures, thousands separated, no exponent."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def _verdict(met: Optional[bool]) -> str:
    return "not measured" if met is None else ("met" if met else "NOT met")


def format_report(results: Dict[str, Any]) -> str:
    """Markdown: the machine, a throughput table, a peak-memory table and the targets."""
    machine, model, settings = results["machine"], results["model"], results["settings"]
    ram = f"{machine['ram_bytes'] / 2 ** 30:.1f} GiB RAM" if machine["ram_bytes"] else "RAM unknown"
    load = f", load average {machine['load_average']:.1f} at the start" if machine["load_average"] is not None else ""
    torch = (f", torch {machine['torch']} ({machine['torch_threads']} threads)" if machine["torch"] else "")
    flops = (f"; {model['flops_per_tile'] / 1e9:.3g} GFLOP per tile (torch FlopCounterMode: convolutions and "
             "matrix products, 2 per multiply-add)" if model["flops_per_tile"] else "")
    size, tiles = settings["throughput_size"], settings["throughput_tiles"]
    scene = f"{SCENE_WIDTH:,} x {SCENE_HEIGHT:,} px"
    lines = [
        "## FloodSAR benchmark", "",
        f"- Machine: {machine['cpu']}, {machine['logical_cores']} logical cores ({machine['usable_cores']} usable), "
        f"{ram}, GPU: {machine['gpu'] or 'none'}{load}",
        f"- Software: {machine['os']}, Python {machine['python']}, numpy {machine['numpy']}, onnxruntime "
        f"{machine['onnxruntime']}{torch}, rasterio {machine['rasterio']} (GDAL {machine['gdal']})",
        f"- Model: {model['name']} ({', '.join(Path(p).name for p in model['files'].values())}), "
        f"tile {model['tile']} px, overlap {model['overlap']} px{flops}",
        "- Peak float32 matmul (" + "; ".join(f"{d}: {_num(p['gflops'])} GFLOP/s, {p['library']}"
                                             for d, p in results["matmul"].items())
        + f", {MATMUL_SIZE} x {MATMUL_SIZE}, best of several)", "",
        f"### Throughput: {size:,} x {size:,} px raster ({tiles} tiles), best of {settings['repeats']}", "",
        "| Backend | Device | Batch | Inference tiles/s | Inference Mpx/s | End-to-end tiles/s | End-to-end Mpx/s "
        f"| Full scene ({scene}) | % of matmul peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in results["backends"]:
        peak = f"{100 * b['peak_fraction']:.2g}%" if "peak_fraction" in b else "n/a"
        lines.append(f"| {b['runtime']} | {b['device']} | {b['batch']} | {_num(b['inference']['tiles_per_s'])} "
                     f"| {_num(b['inference']['mpx_per_s'])} | {_num(b['end_to_end']['tiles_per_s'])} "
                     f"| {_num(b['end_to_end']['mpx_per_s'])} | {_duration(b['full_scene_s'])} | {peak} |")
    lines.append("")
    for device, ratio in results["ratios"].items():
        lines.append(f"ONNX Runtime / PyTorch on {device}: inference {ratio['inference']:.2f}x, "
                     f"end to end {ratio['end_to_end']:.2f}x.")
    tile = model["tile"]
    lines += [
        "",
        f"Inference: {settings['inference_tiles']} or more tiles (whole batches) of {tile} x {tile} px after "
        f"{WARMUP_BATCHES} warm-up batches; its Mpx/s counts every pixel the model sees, overlap included. "
        "End to end: floodsar predict (read + infer + write, model loading included); its Mpx/s counts raster "
        f"pixels. Full scene: model loading once, then {scene} at the end-to-end rate. % of matmul peak: "
        "FLOP per tile x inference tiles/s / the matmul rate on the same device.", "",
    ]
    memory = results["memory"]
    lines += [f"### Peak memory: one fresh `floodsar predict` process per raster "
              f"({BACKEND_NAMES[settings['memory_backend']]})", "",
              "| Raster | Peak RSS | Wall time (start-up included) |", "|---|---:|---:|"]
    for run in memory["runs"]:
        lines.append(f"| {run['size']:,} x {run['size']:,} px | {run['peak_rss_bytes'] / 1e6:,.0f} MB "
                     f"| {_duration(run['seconds'])} |")
    from .rasterio_io import CACHE_MAX_MB

    growth = ("one size only: growth not measured" if memory["bytes_per_extra_pixel"] is None else
              f"largest / smallest raster {memory['growth']:.2f}x ({memory['bytes_per_extra_pixel']:+.2f} bytes "
              f"per extra pixel); if it kept growing at that rate, a full scene would need "
              f"{memory['full_scene_worst_case_rss_bytes'] / 1e6:,.0f} MB")
    fresh = memory["fresh_full_scene_s"]
    lines += ["", f"Peak RSS: {growth}. GDAL's block cache (capped at {CACHE_MAX_MB} MB) fills over the first "
              "few hundred megapixels: growth up to that much is the cache, not the raster held in memory."
              + ("" if fresh is None else " A fresh process on a full scene (start-up once, then these runs' "
                 f"per-pixel time): {_duration(fresh)}."), ""]
    targets = results["targets"]
    speed = targets["onnx_cpu_speedup"]
    speed_text = ("needs both backends on the CPU" if speed["ratios"] is None else
                  f"inference {speed['ratios']['inference']:.2f}x, end to end {speed['ratios']['end_to_end']:.2f}x")
    small, large = memory["runs"][0]["size"], memory["runs"][-1]["size"]
    memory_text = f"{memory['largest_peak_rss_bytes'] / 1e6:,.0f} MB at most" + (
        f" ({large:,} px only)" if small == large else f", {memory['growth']:.2f}x from {small:,} to {large:,} px")
    gpu = targets["gpu_full_scene"]
    gpu_text = ("no backend ran on a CUDA GPU" if gpu["met"] is None else
                ", ".join(f"{BACKEND_NAMES[b]} {_duration(s)}" for b, s in gpu["seconds"].items())
                + ("" if gpu["bundled_model"] else " (not the bundled model)"))
    lines += ["### Targets", "", "| Target | Measured | Result |", "|---|---|---|",
              f"| ONNX Runtime on CPU >= {SPEEDUP_TARGET}x PyTorch eager | {speed_text} | {_verdict(speed['met'])} |",
              f"| Peak memory < {MEMORY_LIMIT_BYTES / 1e9:g} GB at any size | {memory_text} "
              f"| {_verdict(targets['memory']['met'])} |",
              f"| GPU: full scene end to end < {GPU_SCENE_TARGET_S:g} s, bundled model | {gpu_text} "
              f"| {_verdict(gpu['met'])} |"]
    if results["notes"]:
        lines += ["", *(f"Note: {note}" for note in results["notes"])]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the command

def _benchmark(args: argparse.Namespace) -> int:
    if args.json is not None:
        raster_io.check_writable(args.json)  # before a long run, not after
    options = BenchmarkOptions(model=args.model, backends=args.backends, device=args.device, sizes=args.sizes,
                               throughput_size=args.throughput_size, tile=args.tile, overlap=args.overlap,
                               batch=args.batch, inference_tiles=args.inference_tiles, repeats=args.repeats,
                               memory_backend=args.memory_backend, workdir=args.workdir)
    results = run_benchmark(options)
    print(format_report(results))
    if args.json is not None:
        with raster_io.atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        _say(f"numbers written to {args.json}")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``floodsar benchmark`` (see :data:`floodsar.engine.cli.SUBCOMMANDS`)."""
    parser = subparsers.add_parser(
        "benchmark", help="measure throughput, peak memory and full-scene time on generated rasters",
        description="Benchmark the engine on generated Sentinel-1-like rasters: throughput (inference alone and "
                    "end to end) per backend, peak memory of a fresh process per raster size, full-scene time "
                    "and distance from the machine's matmul peak. Prints a Markdown report.")
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="FloodSAR .onnx model; PyTorch runs its .pt2 twin (default: the bundled model)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="runtimes to compare (default: onnx torch)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where to run the model (default auto)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[4000, 16000], metavar="PX",
                        help="square raster sizes for peak memory (default 4000 16000)")
    parser.add_argument("--throughput-size", type=int, metavar="PX",
                        help="square raster size for end-to-end throughput (default: the smallest of --sizes)")
    parser.add_argument("--tile", type=int, metavar="N", help="tile size in pixels (default: the model's)")
    parser.add_argument("--overlap", type=int, metavar="N", help="context pixels per side (default: the model's)")
    parser.add_argument("--batch", type=int, metavar="N", help="tiles per batch (default 1 on CPU, 4 on GPU)")
    parser.add_argument("--inference-tiles", type=int, default=16, metavar="N",
                        help="tiles timed for inference alone, after a warm-up (default 16)")
    parser.add_argument("--repeats", type=int, default=1, metavar="N",
                        help="rounds of the throughput measurements, backends interleaved; best kept (default 1)")
    parser.add_argument("--memory-backend", choices=BACKENDS,
                        help="runtime of the peak-memory runs (default onnx, else the one benchmarked)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write every number and the machine")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="folder for the generated rasters, kept and reused (default: a temporary folder, "
                             "removed afterwards; 16000 px needs about 2 GB of disk)")
    parser.set_defaults(func=_benchmark)
