"""``floodsar benchmark`` on the command line: its options; the measuring code loads when it runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..safe_write import atomic_output, check_writable
from ..choices import Backend, Device, values


def _benchmark(args: argparse.Namespace) -> int:
    from .report import format_report
    from .run import BenchmarkOptions, print_progress, run_benchmark

    if args.json is not None:
        check_writable(args.json)  # before a long run, not after
    options = BenchmarkOptions(model=args.model, backends=args.backends, device=args.device, sizes=args.sizes,
                               throughput_size=args.throughput_size, tile=args.tile, overlap=args.overlap,
                               batch=args.batch, inference_tiles=args.inference_tiles, repeats=args.repeats,
                               memory_backend=args.memory_backend, workdir=args.workdir,
                               trust_model=args.trust_model, full_scene=args.full_scene)
    results = run_benchmark(options)
    print(format_report(results))
    if args.json is not None:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print_progress(f"numbers written to {args.json}")
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
    parser.add_argument("--backends", nargs="+", choices=values(Backend), default=list(values(Backend)),
                        help="runtimes to compare (default: onnx torch)")
    parser.add_argument("--device", choices=values(Device), default=Device.AUTO.value,
                        help="where to run the model (default auto)")
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
    parser.add_argument("--memory-backend", choices=values(Backend),
                        help="runtime of the peak-memory runs (default onnx, else the one benchmarked)")
    parser.add_argument("--trust-model", action="store_true",
                        help="open a .pt2 model that is not the bundled one (a .pt2 can run code: only your own)")
    parser.add_argument("--full-scene", action="store_true",
                        help="also map a generated 25,000 x 17,000 px scene in a fresh process with the ONNX model "
                             "and its int8 twin, if any (minutes; about 3.5 GB of disk in --workdir)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write every number and the machine")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="folder for the generated rasters, kept and reused (default: a temporary folder, "
                             "removed afterwards; 16000 px needs about 2 GB of disk)")
    parser.set_defaults(func=_benchmark)
