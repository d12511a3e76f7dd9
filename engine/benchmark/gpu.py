"""A GPU machine measured in a few minutes, with the CPU baseline of the same machine in the same run.

    python -m floodsar.engine.benchmark.gpu --out DIR [--budget-s 420] [--scene 25000 17000]
    bash engine/benchmark/gpu_run.sh          # the same on a bare machine (no install, no network)

Parts, in order, each recorded even when another fails or runs out of time:

1. the machine: CPU, cores, GPU, CUDA, torch, ONNX Runtime and its providers, the raster library;
2. inference alone (no raster I/O): every ONNX Runtime provider present (TensorRT, CUDA, CPU; each on
   its own) and PyTorch on CUDA, over batch sizes; the int8 twin on the CPU provider;
3. a generated full Sentinel-1 scene (25,000 x 17,000 px) end to end through :func:`~..pipeline.predict`
   at the engine's default batch, with each GPU configuration (PyTorch also with two batches in flight), then an
   instant model (what the engine alone costs: the floor of any GPU), then the CPU baseline (ONNX Runtime
   fp32 and int8). Each run has a deadline: one that would pass it is stopped (the engine's cancel) and
   its time is extrapolated from the share of tiles done, marked as such. Time inside the model's calls
   is timed apart, and the CPU seconds of each thread (main: stitching and writing; reader: reading,
   decoding, normalising; native: GDAL's decoding workers, the runtimes) show which one limits a fast GPU.

Parts that cannot run here (no GPU, no CUDA provider, no raster library) are skipped with the reason,
so the script also runs, and is tested, on a CPU-only machine. PyTorch runs the bundled ``.pt2``; when
this torch cannot load it (``torch.export`` archives do not load into older torch releases), the
network is rebuilt from ``training/network.py`` with the weights of ``--state`` (a state dict, made with
``--save-state`` where the ``.pt2`` loads). Writes ``DIR/gpu_benchmark.json`` and ``DIR/gpu_benchmark.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..backends import PROVIDER_DEVICES, session_options, usable_cores
from ..errors import CancelledError
from ..models import DEFAULT_MODEL, Model, int8_twin, load_model, resolve_model_path
from ..pipeline import DEFAULT_BATCH
from .estimates import SCENE_HEIGHT, SCENE_WIDTH
from .measure import TimedBackend, time_inference
from .thread_cpu import ThreadCpu

PROVIDERS = tuple(PROVIDER_DEVICES)  # best first
GPU_BATCHES, CPU_BATCHES = (1, 4, 8, 16, 32), (1, 4)
#: Seconds each inference-only measurement aims at (after its warm-up).
INFERENCE_S = 3.0
INSTANT = "engine alone (instant model)"


def log(message: str) -> None:
    print(f"gpu benchmark {time.strftime('%H:%M:%S')}: {message}", file=sys.stderr, flush=True)


def environment() -> Dict[str, Any]:
    import platform

    import onnxruntime as ort

    info: Dict[str, Any] = {"python": platform.python_version(), "cpu_cores": usable_cores(),
                            "onnxruntime": ort.__version__, "providers": ort.get_available_providers(),
                            "torch": None, "cuda": None, "gpu": None, "raster_io": None}
    try:
        import torch

        info.update(torch=torch.__version__, cuda=torch.version.cuda,
                    gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError:
        pass
    for name in ("rasterio", "osgeo.gdal"):
        try:
            module = __import__(name, fromlist=["_"])
            info["raster_io"] = f"{name} {getattr(module, '__version__', '')}".strip()
            break
        except ImportError:
            continue
    return info


class ProviderBackend:
    """An ONNX Runtime session on exactly one provider (the engine itself picks the best one present); on the
    CPU it runs batches at once and spends threads as the engine does."""

    def __init__(self, path: Path, provider: str) -> None:
        import onnxruntime as ort

        options, self.streams = session_options(PROVIDER_DEVICES[provider], None)
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=[provider])
        self.device = "cpu" if provider == "CPUExecutionProvider" else "cuda"
        self.description = f"onnxruntime {ort.__version__} {provider} ({self.device})"

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": batch})[0]


class ModuleBackend:
    """The bundled network rebuilt in PyTorch from a state dict (when this torch cannot load the ``.pt2``)."""

    def __init__(self, state: Path, architecture: str, bands: int, device: str) -> None:
        import torch

        from ...training.export import WaterProbability
        from ...training.network import ModelConfig, build_model

        encoder = architecture.rsplit("-", 1)[-1]  # "deeplabv3plus-xception_lite"
        module = WaterProbability(build_model(ModelConfig(encoder=encoder, in_channels=bands)))
        module.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
        self._torch, self.device, self.streams = torch, device, 1
        self.module = module.to(device).eval()
        self.description = f"torch {torch.__version__} ({device}, network rebuilt from {state.name})"

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self.module(self._torch.from_numpy(batch).to(self.device)).float().cpu().numpy()


class InstantBackend:
    """A model that answers at once (a constant probability): the run costs what the engine alone costs."""

    description, device, streams = "no model: a constant probability", "cuda", 1

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.full((batch.shape[0], 1, *batch.shape[2:]), 0.25, dtype=np.float32)


def save_state(path: Path) -> Path:
    """The bundled ``.pt2``'s weights as a plain state dict (loads on any recent torch)."""
    import torch

    program = torch.export.load(str(resolve_model_path(None, "torch")))
    torch.save(dict(program.state_dict), path)
    return path


def configurations(info: Dict[str, Any], fp32: Path, state: Optional[Path]) -> Dict[str, Callable[[], Model]]:
    """name -> loader of each model configuration this machine can run, GPU ones first; skipped ones logged."""
    metadata = load_model(fp32, "onnx", "cpu").metadata
    found: Dict[str, Callable[[], Model]] = {}
    for provider in PROVIDERS:
        if provider in info["providers"]:
            short = provider.replace("ExecutionProvider", "")
            found[f"onnx {short} fp32"] = lambda p=provider: Model(fp32, metadata, ProviderBackend(fp32, p))
        else:
            log(f"skipped ONNX Runtime {provider}: not in this onnxruntime build ({', '.join(info['providers'])})")
    if int8_twin(fp32).is_file():
        found["onnx CPU int8"] = lambda: Model(int8_twin(fp32), metadata,
                                               ProviderBackend(int8_twin(fp32), "CPUExecutionProvider"))
    if info["gpu"]:
        found = {"torch cuda fp32": lambda: _torch_model(fp32, state, metadata), **found}
    else:
        log("skipped PyTorch on CUDA: " + ("torch is not installed" if info["torch"] is None else "no CUDA GPU"))
    gpu_first = sorted(found, key=lambda name: "CPU" in name)
    return {name: found[name] for name in gpu_first}


def _torch_model(fp32: Path, state: Optional[Path], metadata: Any) -> Model:
    try:
        return load_model(fp32, "torch", "cuda")
    except Exception as exc:  # an archive from a newer torch: rebuild the network instead
        if state is None or not state.is_file():
            raise RuntimeError(f"this torch cannot load the .pt2 ({exc}) and no --state file was given") from exc
        log(f"torch could not load the .pt2 ({str(exc).splitlines()[0][:120]}); rebuilding from {state}")
        return Model(fp32, metadata, ModuleBackend(state, metadata.architecture, len(metadata.bands), "cuda"))


def _inference(model: Model, batches: tuple) -> List[Dict[str, float]]:
    """Tiles/s per batch size (enough tiles for about INFERENCE_S seconds each, after a warm-up)."""
    tile, rows = model.metadata.tile_size, []
    for batch in batches:
        probe = time_inference(model, tile, batch, batch)
        tiles = max(batch, int(INFERENCE_S * probe["tiles_per_s"]) // batch * batch)
        rows.append({"batch": batch, **time_inference(model, tile, tiles, batch)})
        log(f"  batch {batch}: {rows[-1]['tiles_per_s']:.1f} tiles/s")
    return rows


def _end_to_end(model: Model, raster: Path, workdir: Path, batch: int, deadline_s: float,
                streams: Optional[int] = None) -> Dict[str, Any]:
    """One full-scene run through predict() (``streams`` batches in flight: the backend's unless given); stopped
    at the deadline, then extrapolated from the tiles done. ``first_batch_s``: until the first batch was stitched
    (opening, sampling, the first reads); ``after_tiles_s``: after the last (closing, overviews, checks)."""
    from ..pipeline import PredictionRequest, predict

    timed = TimedBackend(model.backend, streams)
    done = [0.0]
    marks: Dict[str, float] = {}

    def note(percent: float) -> None:
        done[0] = percent
        marks.setdefault("first_batch", time.perf_counter() - started)
        if percent >= 100.0:
            marks.setdefault("tiles_done", time.perf_counter() - started)

    started = time.perf_counter()
    output = workdir / "scene_mask.tif"
    request = PredictionRequest(inputs=[raster], output=output, model=model.path, batch=batch,
                                backend="torch" if model.path.suffix == ".pt2" else "onnx")
    row: Dict[str, Any] = {"batch": batch, "streams": timed.streams, "deadline_s": deadline_s}
    try:
        with ThreadCpu() as cpu:
            predict(request, progress=note, model=dataclasses.replace(model, backend=timed),
                    is_cancelled=lambda: time.perf_counter() - started > deadline_s)
        seconds = time.perf_counter() - started
        row.update(seconds=seconds, complete=True, thread_cpu_s=cpu.by_role(), first_batch_s=marks["first_batch"],
                   after_tiles_s=seconds - marks["tiles_done"])
    except CancelledError:  # stopped at the deadline: extrapolated from the share of tiles done, if any
        elapsed = time.perf_counter() - started
        row.update(seconds=elapsed * 100.0 / done[0] if done[0] else None, complete=False, done_percent=done[0],
                   thread_cpu_s=cpu.by_role())
    finally:
        output.unlink(missing_ok=True)
    share = timed.seconds / (time.perf_counter() - started)
    row.update(model_s=timed.seconds, model_calls=timed.calls, engine_share=1.0 - share,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def _scene_runs(models: Dict[str, Model]) -> List[Tuple[str, Model, int, Optional[int]]]:
    """(name, model, batch, batches in flight or None for the backend's) of each full-scene run, in order, each at
    the engine's default batch for its device (what ``floodsar predict`` does): the GPU configurations (PyTorch
    also with two batches in flight), the engine alone, then the CPU configurations."""
    gpus = [name for name in models if "CPU" not in name]
    runs: List[Tuple[str, Model, int, Optional[int]]] = []
    for name in gpus:
        batch = DEFAULT_BATCH[models[name].backend.device]
        runs.append((name, models[name], batch, None))
        if name.startswith("torch"):
            runs.append((f"{name}, 2 batches in flight", models[name], batch, 2))
    if models:
        instant = dataclasses.replace(next(iter(models.values())), backend=InstantBackend())
        runs.append((INSTANT, instant, DEFAULT_BATCH[instant.backend.device], None))
    return runs + [(name, models[name], DEFAULT_BATCH[models[name].backend.device], None)
                   for name in models if name not in gpus]


def _reason(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def run(out: Path, budget_s: float, scene: tuple[int, int], state: Optional[Path], model: Path = DEFAULT_MODEL
        ) -> Dict[str, Any]:
    """Every part that fits in ``budget_s`` seconds; the results so far are written after each part."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Any] = {"environment": environment(), "inference": {}, "end_to_end": {}, "errors": {}}
    log(f"machine: {json.dumps(results['environment'])}")
    loaders = configurations(results["environment"], model, state)
    models: Dict[str, Model] = {}
    for name, loader in loaders.items():
        log(f"inference alone: {name}")
        try:
            models[name] = loader()
            batches = CPU_BATCHES if "CPU" in name else GPU_BATCHES
            results["inference"][name] = _inference(models[name], batches)
        except Exception as exc:  # one configuration's failure must not lose the others
            results["errors"][name] = _reason(exc)
        _write(out, results)
    if results["environment"]["raster_io"] is None:
        results["errors"]["end_to_end"] = "no raster library (rasterio or GDAL): end to end skipped"
        return _write(out, results)
    from .scene import generate_raster

    with tempfile.TemporaryDirectory(prefix="floodsar-gpu-") as tmp:  # not in --out: 3.5 GB must not travel back
        raster = Path(tmp) / "scene.tif"
        log(f"generating a {scene[0]} x {scene[1]} px scene")
        began = time.perf_counter()
        generate_raster(raster, *scene)
        results["scene"] = {"width": scene[0], "height": scene[1], "generate_s": time.perf_counter() - began}
        for name, model, batch, streams in _scene_runs(models):
            left = budget_s - (time.perf_counter() - started)
            if left < 20:
                results["errors"][f"end to end {name}"] = "skipped: the time budget is spent"
                continue
            log(f"end to end: {name}, batch {batch}, deadline {left / 2:.0f} s")
            try:
                results["end_to_end"][name] = _end_to_end(model, raster, Path(tmp), batch, left / 2, streams)
            except Exception as exc:
                results["errors"][f"end to end {name}"] = _reason(exc)
            _write(out, results)
    return _write(out, results)


def _write(out: Path, results: Dict[str, Any]) -> Dict[str, Any]:
    (out / "gpu_benchmark.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "gpu_benchmark.md").write_text(markdown(results) + "\n", encoding="utf-8")
    return results


def markdown(results: Dict[str, Any]) -> str:
    """The machine, inference alone per configuration and batch, and the full scene per configuration."""
    env = results["environment"]
    lines = [f"Machine: {env['gpu'] or 'no GPU'}, {env['cpu_cores']} CPU cores; Python {env['python']}, torch "
             f"{env['torch']} (CUDA {env['cuda']}), onnxruntime {env['onnxruntime']} ({', '.join(env['providers'])}), "
             f"raster I/O {env['raster_io']}", "", "| Configuration | Batch | Inference tiles/s |", "|---|---:|---:|"]
    for name, rows in results["inference"].items():
        lines += [f"| {name} | {row['batch']} | {row['tiles_per_s']:.1f} |" for row in rows]
    scene = results.get("scene")
    if scene:
        lines += ["", f"Full scene {scene['width']:,} x {scene['height']:,} px (generated in "
                  f"{scene['generate_s']:.0f} s), end to end through predict():", "",
                  "| Configuration | Batch | Seconds | First batch at | After the tiles | In the model | Engine share "
                  "| CPU s by thread | Peak RSS (process) |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for name, row in results["end_to_end"].items():
            seconds = (f"{row['seconds']:.1f}" if row["complete"] else "not reached" if row["seconds"] is None
                       else f"{row['seconds']:.1f} (extrapolated from {row['done_percent']:.0f}%)")
            threads = ", ".join(f"{role} {cpu:.1f}" for role, cpu in sorted(row["thread_cpu_s"].items()))
            phases = (f"{row['first_batch_s']:.1f} s | {row['after_tiles_s']:.1f} s" if row["complete"]
                      else "| ")
            lines.append(f"| {name} | {row['batch']} | {seconds} | {phases} | {row['model_s']:.1f} s | "
                         f"{100 * row['engine_share']:.0f}% | {threads} | {row['peak_rss_mb']:,.0f} MB |")
    lines += [f"Not run: {name}: {why}" for name, why in results["errors"].items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.engine.benchmark.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_out"), help="folder for the results (and the scene)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="seconds for the whole run (default 420)")
    parser.add_argument("--scene", type=int, nargs=2, default=(SCENE_WIDTH, SCENE_HEIGHT), metavar=("W", "H"))
    parser.add_argument("--state", type=Path, help="state dict of the bundled network (see --save-state)")
    parser.add_argument("--save-state", type=Path, metavar="FILE",
                        help="write the bundled .pt2's weights as a state dict to FILE and stop")
    args = parser.parse_args(argv)
    if args.save_state:
        print(save_state(args.save_state))
        return 0
    results = run(args.out, args.budget_s, tuple(args.scene), args.state)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
