"""One benchmark run: check the options, load the models, measure, and gather a JSON-ready dict."""
from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from ..choices import Backend, values
from ..errors import FloodSarError
from ..models import DEFAULT_MODEL, SUFFIXES, Model, int8_twin, load_model, resolve_model_path
from ..pipeline import DEFAULT_BATCH, PredictionRequest
from ..tiling import plan_tiles
from .estimates import SCENE_HEIGHT, SCENE_WIDTH, memory_summary, ratios, scene_seconds
from .machine import machine_info
from .measure import MATMUL_SIZE, matmul_gflops, peak_rss, tile_flops, time_end_to_end, time_inference
from .scene import raster_for

#: Load average per usable core above which the report warns that the machine was busy.
BUSY_LOAD = 0.5
BACKEND_NAMES = {"onnx": "ONNX Runtime", "torch": "PyTorch", "onnx-int8": "ONNX Runtime int8"}
#: The int8 twin of the ONNX model, benchmarked beside it when it exists (``floodsar-train quantize``).
INT8 = "onnx-int8"
#: The command whose peak memory is measured (``python -m`` this module).
CLI_MODULE = "floodsar.engine.cli"

Say = Callable[[str], None]


def print_progress(message: str) -> None:
    print(f"floodsar benchmark: {message}", file=sys.stderr, flush=True)


@dataclass
class BenchmarkOptions:
    """What to measure; ``None`` for model/tile/overlap/batch means the engine's defaults."""

    model: Optional[Path] = None
    backends: Sequence[str] = values(Backend)
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
    trust_model: bool = False
    #: Also map a generated 25,000 x 17,000 px scene in a fresh process per ONNX Runtime variant (minutes).
    full_scene: bool = False


def _check(options: BenchmarkOptions) -> None:
    optional = {"--throughput-size": (options.throughput_size, 1), "--tile": (options.tile, 1),
                "--overlap": (options.overlap, 0), "--batch": (options.batch, 1)}
    checks = [("--sizes", list(options.sizes), 1), ("--inference-tiles", [options.inference_tiles], 1),
              ("--repeats", [options.repeats], 1)]
    checks += [(name, [value], least) for name, (value, least) in optional.items() if value is not None]
    for name, numbers, least in checks:
        if not numbers or any(v < least for v in numbers):
            raise FloodSarError(f"{name} must be whole numbers of at least {least}, not "
                                f"{' '.join(str(v) for v in numbers)}.")


def runtime(variant: str) -> str:
    """The engine backend that runs a benchmarked variant ('onnx', 'torch' or 'onnx-int8')."""
    return variant.partition("-")[0]


def precision(variant: str) -> str:
    return variant.partition("-")[2] or "fp32"


def model_files(model: Optional[Path], backends: Sequence[str]) -> tuple[Dict[str, Path], List[str]]:
    """The model file of each usable variant (a backend, and ONNX Runtime's int8 twin), and notes on those skipped.

    The PyTorch backend runs the ``.pt2`` twin beside the ``.onnx`` (as the training export
    writes them); without it, or without torch installed, PyTorch is skipped. The ``<name>_int8.onnx``
    beside the ``.onnx`` runs as a variant of its own. FloodSarError when no backend is left (e.g. the
    model file does not exist).
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
            files[backend] = resolve_model_path(model or DEFAULT_MODEL, backend)  # fp32; its int8 twin below
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
    if "onnx" in files and int8_twin(files["onnx"]).is_file():
        files = {"onnx": files["onnx"], INT8: int8_twin(files["onnx"]), **files}
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
    for variant, path in files.items():
        started = time.perf_counter()
        models[variant] = load_model(path, runtime(variant), options.device, trusted_by_user=options.trust_model)
        load_s[variant] = time.perf_counter() - started
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
    raster = raster_for(size, workdir, say)
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
                                        model=setup.files[backend], backend=runtime(backend), device=options.device,
                                        tile=options.tile, overlap=options.overlap, batch=options.batch,
                                        trust_model=options.trust_model)
            end_to_end[backend].append(time_end_to_end(request, setup.throughput_tiles, size * size))
    return inference, end_to_end


def _predict_command(raster: Path, output: Path, variant: str, options: BenchmarkOptions, setup: _Setup
                     ) -> List[str]:
    """``floodsar predict`` of ``raster`` with one variant's model file and backend and the benchmark's tiling."""
    command = [sys.executable, "-m", CLI_MODULE, "predict", str(raster), "-o", str(output),
               "--model", str(setup.files[variant]), "--backend", runtime(variant), "--device", options.device]
    for name in ("tile", "overlap", "batch"):
        value = getattr(options, name)
        command += [f"--{name}", str(value)] if value is not None else []
    return command + (["--trust-model"] if options.trust_model else [])


def _fresh_run(raster: Path, name: str, variant: str, options: BenchmarkOptions, setup: _Setup, workdir: Path
               ) -> Dict[str, Any]:
    """Peak RSS and wall time of one fresh ``floodsar predict`` process (its mask is deleted afterwards)."""
    output = workdir / f"{name}.tif"
    try:
        rss, seconds = peak_rss(_predict_command(raster, output, variant, options, setup), workdir / f"{name}.log")
    finally:
        output.unlink(missing_ok=True)
    return {"peak_rss_bytes": rss, "seconds": seconds}


def _measure_memory(setup: _Setup, options: BenchmarkOptions, workdir: Path, say: Say) -> List[Dict[str, Any]]:
    """Peak RSS and wall time of a fresh ``floodsar predict`` process per raster size, smallest first."""
    runs = []
    for size in sorted(set(options.sizes)):
        raster = raster_for(size, workdir, say)
        say(f"peak memory: a fresh floodsar predict ({setup.memory_backend}) on {size} x {size} px")
        runs.append({"size": size, **_fresh_run(raster, f"memory_{size}", setup.memory_backend, options, setup,
                                                workdir)})
    return runs


def _measure_full_scene(setup: _Setup, options: BenchmarkOptions, workdir: Path, say: Say) -> List[Dict[str, Any]]:
    """A generated full scene through a fresh ``floodsar predict`` per ONNX Runtime variant (fp32, int8)."""
    raster = raster_for(SCENE_WIDTH, workdir, say, height=SCENE_HEIGHT)
    runs = []
    for variant in (v for v in setup.files if runtime(v) == "onnx"):
        say(f"full scene: a fresh floodsar predict ({BACKEND_NAMES[variant]}) on {SCENE_WIDTH} x {SCENE_HEIGHT} px")
        runs.append({"variant": variant, "precision": precision(variant),
                     **_fresh_run(raster, f"scene_{variant}", variant, options, setup, workdir)})
    return runs


def _backend_entry(backend: str, setup: _Setup, inference: List[Dict[str, float]],
                   end_to_end: List[Dict[str, float]], flops: Optional[int],
                   peaks: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One backend's numbers: its best runs (highest rate), all runs, full-scene time, share of the peak."""
    model = setup.models[backend]
    best_inference = max(inference, key=lambda r: r["tiles_per_s"])
    best_end_to_end = max(end_to_end, key=lambda r: r["tiles_per_s"])
    entry = {"backend": runtime(backend), "variant": backend, "precision": precision(backend),
             "device": model.backend.device, "runtime": model.backend.description,
             "model_file": str(setup.files[backend]), "batch": setup.batches[backend], "first_load_s": setup.load_s[backend],
             "inference": best_inference, "end_to_end": best_end_to_end,
             "inference_runs": inference, "end_to_end_runs": end_to_end,
             "full_scene_s": scene_seconds(best_end_to_end["seconds"], setup.throughput_size ** 2,
                                           best_end_to_end["load_s"])}
    if flops is not None:
        entry["inference_gflops"] = flops * best_inference["tiles_per_s"] / 1e9
        entry["peak_fraction"] = entry["inference_gflops"] / peaks[model.backend.device]["gflops"]
    return entry


def run_benchmark(options: BenchmarkOptions, say: Say = print_progress) -> Dict[str, Any]:
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
        full_scene = _measure_full_scene(setup, options, workdir, say) if options.full_scene else []
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
        "matmul": peaks, "backends": backends, "memory": memory_summary(memory_runs),
        "ratios": ratios(backends), "full_scene": full_scene, "notes": notes}
    return results
