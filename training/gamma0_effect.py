"""What gamma0 instead of sigma0 does to the model, measured on the labelled real chips.

    floodsar-train gamma0-effect [--model resources/models/floodsar_s1.onnx] [--real ../shared/data/real]

The model was trained on sigma0. An RTC product (ASF HyP3) delivers gamma0 = sigma0 / cos(incidence),
brighter by -10 log10(cos(incidence)) dB: 0.62 dB at 30 deg, 1.00 at 37.5, 1.51 at 45. Each chip is
mapped by the engine as sigma0 (as trained), as uncorrected gamma0 at those incidences, and as gamma0
corrected with FloodSAR's fallback 37.5 deg when the product has no incidence map (a residual of -0.38 dB
at 30 deg, +0.51 dB at 45 deg). With an incidence map the correction is exact (the sigma0 row).
Water IoU against the hand labels, aggregated over all pixels of all chips (evaluate_real's table).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..engine.models import DEFAULT_MODEL
from ..engine.pipeline import PredictionRequest, predict
from ..engine.rasterio_io import RasterioIO
from ..engine.sentinel1 import open_sentinel1
from .evaluate_real import Method, RealChip, backend_of, find_chips, markdown, run
from .real_data import ENVIRONMENT_VARIABLE, real_data_dir

FALLBACK_DEG = 37.5


def brightening_db(incidence_deg: float) -> float:
    """How much brighter gamma0 is than sigma0 at this incidence (dB)."""
    return -10 * math.log10(math.cos(math.radians(incidence_deg)))


def shifted(model: Path, offset_db: float) -> Method:
    """The model on the chip with ``offset_db`` added to VV and VH (written as a dB GeoTIFF first)."""
    def method(chip: RealChip, workdir: Path) -> np.ndarray:
        import rasterio

        with open_sentinel1(list(chip.inputs), io=RasterioIO()) as source:
            db, valid = source.read_db(0, 0, source.grid.height, source.grid.width)
            grid = source.grid
        scene = workdir / f"{chip.name}_{offset_db:+.2f}.tif"
        with rasterio.open(scene, "w", driver="GTiff", width=grid.width, height=grid.height, count=2,
                           dtype="float32", crs=grid.crs_wkt, transform=rasterio.Affine.from_gdal(*grid.transform),
                           nodata=float("nan")) as out:
            out.write(np.where(valid, db + np.float32(offset_db), np.nan).astype(np.float32))
            out.descriptions = ("VV", "VH")
        output = workdir / f"{chip.name}_{offset_db:+.2f}_mask.tif"
        predict(PredictionRequest(inputs=[scene], output=output, model=model, backend=backend_of(model),
                                  device="cpu", units="db"))
        with RasterioIO().open_raster(output) as raster:
            return raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0]

    return method


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX or .pt2 model (default: bundled)")
    parser.add_argument("--real", type=Path, default=None,
                        help=f"shared real-data folder (default: ${ENVIRONMENT_VARIABLE}, else ../shared/data/real)")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train gamma0-effect``: the model's water IoU on sigma0 and on gamma0 at several incidences."""
    methods = {"sigma0 (as trained; also gamma0 corrected with an incidence map)": shifted(args.model, 0.0)}
    for angle in (30.0, FALLBACK_DEG, 45.0):
        methods[f"gamma0 at {angle:g} deg, uncorrected (+{brightening_db(angle):.2f} dB)"] = \
            shifted(args.model, brightening_db(angle))
    for angle in (30.0, 45.0):
        residual = brightening_db(angle) - brightening_db(FALLBACK_DEG)
        methods[f"gamma0 at {angle:g} deg, corrected at {FALLBACK_DEG:g} deg ({residual:+.2f} dB)"] = \
            shifted(args.model, residual)
    results, skipped = run(methods, find_chips(args.real or real_data_dir()), progress=not args.quiet)
    print(markdown(results, skipped))
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.gamma0_effect ...
    from .cli import main

    sys.exit(main(["gamma0-effect", *sys.argv[1:]]))
