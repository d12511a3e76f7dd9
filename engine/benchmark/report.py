"""The benchmark's Markdown report: the machine, a throughput table and a peak-memory table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from ..rasterio_io import CACHE_MAX_MB
from .estimates import SCENE_HEIGHT, SCENE_WIDTH
from .measure import MATMUL_SIZE, WARMUP_BATCHES
from .run import BACKEND_NAMES

SCENE = f"{SCENE_WIDTH:,} x {SCENE_HEIGHT:,} px"


def _num(value: float) -> str:
    """Three significant figures, thousands separated, no exponent."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def _header(results: Dict[str, Any]) -> List[str]:
    """The machine, the software, the model and the matmul peak."""
    machine, model = results["machine"], results["model"]
    ram = f"{machine['ram_bytes'] / 2 ** 30:.1f} GiB RAM" if machine["ram_bytes"] else "RAM unknown"
    load = f", load average {machine['load_average']:.1f} at the start" if machine["load_average"] is not None else ""
    torch = (f", torch {machine['torch']} ({machine['torch_threads']} threads)" if machine["torch"] else "")
    flops = (f"; {model['flops_per_tile'] / 1e9:.3g} GFLOP per tile (torch FlopCounterMode: convolutions and "
             "matrix products, 2 per multiply-add)" if model["flops_per_tile"] else "")
    return [
        "## FloodSAR benchmark", "",
        f"- Machine: {machine['cpu']}, {machine['logical_cores']} logical cores ({machine['usable_cores']} usable), "
        f"{ram}, GPU: {machine['gpu'] or 'none'}{load}",
        f"- Software: {machine['os']}, Python {machine['python']}, numpy {machine['numpy']}, onnxruntime "
        f"{machine['onnxruntime']}{torch}, rasterio {machine['rasterio']} (GDAL {machine['gdal']})",
        f"- Model: {model['name']} ({', '.join(Path(p).name for p in model['files'].values())}), "
        f"tile {model['tile']} px, overlap {model['overlap']} px{flops}",
        "- Peak float32 matmul (" + "; ".join(f"{d}: {_num(p['gflops'])} GFLOP/s, {p['library']}"
                                             for d, p in results["matmul"].items())
        + f", {MATMUL_SIZE} x {MATMUL_SIZE}, best of several)", ""]


def _throughput(results: Dict[str, Any]) -> List[str]:
    """One row per backend, the ONNX Runtime / PyTorch ratios and what the columns mean."""
    settings, tile = results["settings"], results["model"]["tile"]
    size, tiles = settings["throughput_size"], settings["throughput_tiles"]
    lines = [
        f"### Throughput: {size:,} x {size:,} px raster ({tiles} tiles), best of {settings['repeats']}", "",
        "| Backend | Precision | Device | Batch | Inference tiles/s | Inference Mpx/s | End-to-end tiles/s | End-to-end Mpx/s "
        "| End to end: s (in the model) | Engine share "
        f"| Full scene ({SCENE}) | % of matmul peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in results["backends"]:
        peak = f"{100 * b['peak_fraction']:.2g}%" if "peak_fraction" in b else "n/a"
        lines.append(f"| {b['runtime']} | {b['precision']} | {b['device']} | {b['batch']} | {_num(b['inference']['tiles_per_s'])} "
                     f"| {_num(b['inference']['mpx_per_s'])} | {_num(b['end_to_end']['tiles_per_s'])} "
                     f"| {_num(b['end_to_end']['mpx_per_s'])} | {_num(b['end_to_end']['seconds'])} "
                     f"({_num(b['end_to_end']['model_s'])}) | {100 * b['end_to_end']['engine_share']:.0f}% "
                     f"| {_duration(b['full_scene_s'])} | {peak} |")
    lines.append("")
    names = {"onnx/torch": "ONNX Runtime / PyTorch", "int8/fp32": "ONNX Runtime int8 / fp32"}
    for device, pairs in results["ratios"].items():
        for pair, ratio in pairs.items():
            lines.append(f"{names[pair]} on {device}: inference {ratio['inference']:.2f}x, "
                         f"end to end {ratio['end_to_end']:.2f}x.")
    return lines + [
        "",
        f"Inference: {settings['inference_tiles']} or more tiles (whole batches) of {tile} x {tile} px after "
        f"{WARMUP_BATCHES} warm-up batches; its Mpx/s counts every pixel the model sees, overlap included. "
        "End to end: floodsar predict (read + infer + write, model loading included); its Mpx/s counts raster "
        "pixels; its seconds, of which (in the model) inside the model's calls; engine share: the rest "
        "(reading, normalising, stitching, writing, loading) as a share of that run. Full scene: model loading "
        f"once, then {SCENE} at the end-to-end rate. % of matmul peak: "
        "FLOP per tile x inference tiles/s / the matmul rate on the same device.", ""]


def _memory(results: Dict[str, Any]) -> List[str]:
    """Peak RSS per raster size, its growth and the fresh-process full-scene time."""
    memory = results["memory"]
    lines = [f"### Peak memory: one fresh `floodsar predict` process per raster "
             f"({BACKEND_NAMES[results['settings']['memory_backend']]})", "",
             "| Raster | Peak RSS | Wall time (start-up included) |", "|---|---:|---:|"]
    for run in memory["runs"]:
        lines.append(f"| {run['size']:,} x {run['size']:,} px | {run['peak_rss_bytes'] / 1e6:,.0f} MB "
                     f"| {_duration(run['seconds'])} |")
    growth = ("one size only: growth not measured" if memory["bytes_per_extra_pixel"] is None else
              f"largest / smallest raster {memory['growth']:.2f}x ({memory['bytes_per_extra_pixel']:+.2f} bytes "
              f"per extra pixel); if it kept growing at that rate, a full scene would need "
              f"{memory['full_scene_worst_case_rss_bytes'] / 1e6:,.0f} MB")
    fresh = memory["fresh_full_scene_s"]
    return lines + ["", f"Peak RSS: {growth}. GDAL's block cache (capped at {CACHE_MAX_MB} MB) fills over the "
                    "first few hundred megapixels: growth up to that much is the cache, not the raster held in "
                    "memory." + ("" if fresh is None else " A fresh process on a full scene (start-up once, then "
                                 f"these runs' per-pixel time): {_duration(fresh)}.")]


def _full_scene(results: Dict[str, Any]) -> List[str]:
    """The measured full scene per precision (none without --full-scene)."""
    if not results["full_scene"]:
        return []
    lines = ["", f"### Full scene, measured: one fresh `floodsar predict` process on a generated {SCENE}", "",
             "| Model | Precision | Wall time (start-up included) | Peak RSS |", "|---|---|---:|---:|"]
    for run in results["full_scene"]:
        lines.append(f"| {Path(results['model']['files'][run['variant']]).name} | {run['precision']} "
                     f"| {_duration(run['seconds'])} | {run['peak_rss_bytes'] / 1e6:,.0f} MB |")
    return lines


def format_report(results: Dict[str, Any]) -> str:
    """Markdown: the machine, a throughput table, a peak-memory table, the full scene and any notes."""
    lines = _header(results) + _throughput(results) + _memory(results) + _full_scene(results)
    if results["notes"]:
        lines += ["", *(f"Note: {note}" for note in results["notes"])]
    return "\n".join(lines)
