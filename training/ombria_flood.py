"""Flood (new water) on the real OMBRIA pre/post pairs: post-only water against change detection.

    python -m floodsar.training.ombria_flood ../shared/data/ombria [--split test] [--json scores.json]

OMBRIA (Drakonakis et al. 2022; no licence stated: development and evaluation only) pairs a Sentinel-1 tile
before a flood with one after it and a Copernicus EMS flood mask (255 = flooded). Each pair goes through
the engine exactly as a user's scene does (:func:`floodsar.engine.pipeline.predict`, ``--method otsu``,
the only method that maps single-polarisation images):

- **post-only water**: the after tile alone; every water pixel counts as flood;
- **change detection**: the after tile with the before tile as ``--pre``; flood = class 1 (water after,
  not water before).

The tiles are 8-bit, single polarisation (most likely VV) and carry no georeferencing, so each is written
as a GeoTIFF on a nominal 10 m grid with a NOMINAL dB scale: :data:`DN_TO_DB`, the linear VV map fitted on
ETCI 2021 tiles (another 8-bit Sentinel-1 set; not fitted on OMBRIA), DN 0 = no data. Scores are all-pixel
flood IoU, precision and recall over pixels valid on both dates. Neither split trained or selected anything
here (the Otsu method has no training); ``dark_both_in_mask`` is the share of pixels among the darkest 3 %
of both dates that the masks call flooded (water present before the flood that the labels count as flood).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..engine import raster_io
from ..engine.errors import FloodSarError
from ..engine.flood import FloodOptions
from ..engine.pipeline import PredictionRequest, predict
from . import ombria
from .etci import _png
from .ombria import SPLITS, OmbriaPair

#: Nominal 8-bit DN -> VV dB (gain, offset): the ETCI 2021 VV fit (see module doc).
DN_TO_DB = (0.1172, -27.70)
#: Nominal grid: 10 m pixels in a metric CRS (the tiles carry no position).
NOMINAL_CRS, NOMINAL_PIXEL_M = "EPSG:3857", 10.0
METHODS = ("post-only water", "change detection")


def find_pairs(root: Path, split: str) -> list[OmbriaPair]:
    """The complete pairs of ``split`` under ``root`` (the folder holding OmbriaS1/); at least one."""
    pairs, _ = ombria.find_pairs(Path(root), split)
    if not pairs:
        raise FloodSarError(f"{Path(root) / 'OmbriaS1' / split}: no OMBRIA pairs found; "
                            "pass the folder that holds OmbriaS1/.")
    return pairs


def write_tile(path: Path, dn: np.ndarray) -> Path:
    """A single-band VV GeoTIFF in nominal dB (NaN where DN is 0) on the nominal grid."""
    import rasterio
    from rasterio.transform import from_origin

    gain, offset = DN_TO_DB
    db = np.where(dn > 0, dn * gain + offset, np.nan).astype(np.float32)
    with raster_io.atomic_output(path) as tmp, rasterio.open(
            tmp, "w", driver="GTiff", width=dn.shape[1], height=dn.shape[0], count=1, dtype="float32",
            crs=NOMINAL_CRS, transform=from_origin(0.0, 0.0, NOMINAL_PIXEL_M, NOMINAL_PIXEL_M),
            nodata=float("nan")) as out:
        out.write(db, 1)
        out.set_band_description(1, "VV")
    return path


def _read(path: Path) -> np.ndarray:
    with raster_io.open_raster(path, "rasterio") as raster:
        return raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0]


def map_pair(pair: OmbriaPair, workdir: Path) -> dict[str, np.ndarray]:
    """Flood found by each method (bool [H, W]) for one pair, through the engine."""
    before = write_tile(workdir / "before.tif", _png(pair.before))
    after = write_tile(workdir / "after.tif", _png(pair.after))
    predict(PredictionRequest([str(after)], workdir / "water.tif", method="otsu", io="rasterio"))
    predict(PredictionRequest([str(after)], workdir / "classes.tif", method="otsu", io="rasterio",
                              flood=FloodOptions(pre=[str(before)])))
    return {"post-only water": _read(workdir / "water.tif") == raster_io.WATER,
            "change detection": _read(workdir / "classes.tif") == raster_io.FLOOD}


def evaluate(root: Path, split: str) -> dict:
    """Scores of both methods on one split (see module doc)."""
    counts = {method: np.zeros(3, dtype=np.int64) for method in METHODS}  # tp, fp, fn
    dark_both = dark_both_flood = 0
    pairs = find_pairs(root, split)
    with tempfile.TemporaryDirectory(prefix="floodsar-ombria-") as tmp:
        for pair in pairs:
            before, after = _png(pair.before), _png(pair.after)
            flooded = _png(pair.mask) > 0
            valid = (before > 0) & (after > 0)
            for method, found in map_pair(pair, Path(tmp)).items():
                counts[method] += [np.count_nonzero(found & flooded & valid),
                                   np.count_nonzero(found & ~flooded & valid),
                                   np.count_nonzero(~found & flooded & valid)]
            dark = (before <= np.percentile(before[valid], 3)) & (after <= np.percentile(after[valid], 3)) & valid
            dark_both += np.count_nonzero(dark)
            dark_both_flood += np.count_nonzero(dark & flooded)
    scores = {}
    for method, (tp, fp, fn) in counts.items():
        scores[method] = {"flood_iou": tp / max(tp + fp + fn, 1), "precision": tp / max(tp + fp, 1),
                          "recall": tp / max(tp + fn, 1)}
    return {"split": split, "pairs": len(pairs), "methods": scores,
            "dark_both_in_mask": dark_both_flood / max(dark_both, 1)}


def table(results: list[dict]) -> str:
    """A Markdown table of the results."""
    lines = ["| split (pairs) | method | flood IoU | precision | recall |", "|---|---|---|---|---|"]
    for result in results:
        for method, s in result["methods"].items():
            lines.append(f"| {result['split']} ({result['pairs']}) | {method} | {100 * s['flood_iou']:.1f} | "
                         f"{100 * s['precision']:.1f} | {100 * s['recall']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.ombria_flood",
                                     description="Flood IoU of post-only water vs change detection on OMBRIA.")
    parser.add_argument("folder", type=Path, help="the OMBRIA folder (holding OmbriaS1/)")
    parser.add_argument("--split", choices=(*SPLITS, "both"), default="both")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the scores as JSON")
    args = parser.parse_args(argv)
    try:
        splits = SPLITS if args.split == "both" else (args.split,)
        results = [evaluate(args.folder, split) for split in splits]
    except FloodSarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table(results))
    for result in results:
        print(f"{result['split']}: {100 * result['dark_both_in_mask']:.0f}% of the pixels darkest on both dates "
              "are labelled flooded")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
