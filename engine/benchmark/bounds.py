"""Peak memory of the runs issue 12 found growing with the input, each in a fresh process.

    python -m floodsar.engine.benchmark.bounds --workdir DIR [--python OTHER/bin/python]

Cases: ``wide`` maps a 40,000 x 1,024 px scene with a cheap model (row buffers vs raster width);
``sieve`` applies a 50-pixel minimum mapping unit to a 16,000 x 16,000 px mask; ``batch`` runs the
bundled model with --batch 64 on a scene of 4 tiles. ``--python`` runs the same cases with another
checkout's interpreter (e.g. an older FloodSAR), so before/after numbers come from one script.
Generated inputs are kept in the work folder and reused.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

from .. import outputs
from ..io_choice import choose_io
from ..metadata import ModelMetadata
from .measure import peak_rss
from .scene import BLOCK, CRS, ORIGIN, PIXEL_M, generate_raster, scene_db, speckle_bank

CASES = ("wide", "sieve", "batch")
#: Minimum mapping unit of the ``sieve`` case: 50 pixels of 10 m.
SIEVE_M2 = 5000.0
#: The sieve case's script; checkouts from before the raster I/O object choose their I/O themselves.
_SIEVE = ("import sys\nfrom floodsar.engine.postprocess import apply_minimum_mapping_unit\n"
          "try:\n    from floodsar.engine.io_choice import choose_io\n    io = (choose_io(),)\n"
          "except ImportError:\n    io = ()\n"
          "apply_minimum_mapping_unit(sys.argv[1], float(sys.argv[2]), *io)\n")


def cheap_model(path: Path) -> Path:
    """A FloodSAR ONNX model doing almost no work (water = dark VH, pixel by pixel): I/O and buffers dominate."""
    from onnx import TensorProto, helper, numpy_helper, save

    from ..metadata import write_onnx_metadata

    nodes = [helper.make_node("Slice", ["input", "start", "end", "axis"], ["vh"]),
             helper.make_node("Mul", ["vh", "slope"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["water_probability"])]
    constants = [numpy_helper.from_array(np.array([1], np.int64), "start"),
                 numpy_helper.from_array(np.array([2], np.int64), "end"),
                 numpy_helper.from_array(np.array([1], np.int64), "axis"),
                 numpy_helper.from_array(np.array(-4.0, np.float32), "slope")]
    graph = helper.make_graph(nodes, "cheap",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, "H", "W"])],
                              [helper.make_tensor_value_info("water_probability", TensorProto.FLOAT,
                                                             ["N", 1, "H", "W"])], initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    write_onnx_metadata(model, ModelMetadata(name="cheap", architecture="pointwise"))
    save(model, str(path))
    return path


def generated_mask(path: Path, size: int) -> Path:
    """A size x size px water mask of the generated scene (VH below -20 dB), speckle and all."""
    io = choose_io()
    grid = io.grid(size, size, io.crs_wkt(CRS), (ORIGIN[0], PIXEL_M, 0.0, ORIGIN[1], 0.0, -PIXEL_M))
    bank = speckle_bank()
    with outputs.open_output(path, grid, "mask", io) as writer:
        for row in range(0, size, BLOCK):
            for col in range(0, size, BLOCK):
                vh = scene_db(row, col, min(BLOCK, size - row), min(BLOCK, size - col), bank)[1]
                writer.write(row, col, (vh < -20.0).astype(np.uint8))
    return path


def _inputs(workdir: Path) -> Dict[str, Path]:
    files = {"wide": workdir / "wide.tif", "model": workdir / "cheap.onnx", "mask": workdir / "mask16000.tif",
             "small": workdir / "four_tiles.tif"}
    makers = {"wide": lambda p: generate_raster(p, 40000, 1024), "model": cheap_model,
              "mask": lambda p: generated_mask(p, 16000), "small": lambda p: generate_raster(p, 700, 700)}
    for name, path in files.items():
        if not path.is_file():
            print(f"bounds: generating {path.name}", file=sys.stderr)
            makers[name](path)
    return files


def measure(workdir: Path, python: str, cases: List[str]) -> List[Dict[str, object]]:
    """Peak RSS (bytes) and seconds of each case in a fresh process of ``python``."""
    files = _inputs(workdir)
    cli = [python, "-m", "floodsar.engine.cli", "predict"]
    commands = {
        "wide": [*cli, str(files["wide"]), "-o", str(workdir / "wide_mask.tif"), "--model", str(files["model"])],
        "sieve": [python, "-c", _SIEVE, str(workdir / "sieved.tif"), str(SIEVE_M2)],
        "batch": [*cli, str(files["small"]), "-o", str(workdir / "batch_mask.tif"), "--batch", "64"],
    }
    rows = []
    for case in cases:
        if case == "sieve":
            shutil.copyfile(files["mask"], workdir / "sieved.tif")  # sieved in place: start from the original
        rss, seconds = peak_rss(commands[case], workdir / f"{case}.log")
        rows.append({"case": case, "peak_rss_mb": rss / 1e6, "seconds": seconds})
    return rows


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.engine.benchmark.bounds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="folder for the generated inputs (kept)")
    parser.add_argument("--python", default=sys.executable, help="interpreter running the measured commands")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| case | peak RSS (MB) | seconds |\n|---|---:|---:|")
    for row in measure(args.workdir, args.python, args.cases):
        print(f"| {row['case']} | {row['peak_rss_mb']:.0f} | {row['seconds']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
