"""Pack the training data of the real-data recipe into ONE small uint8 ``.npz`` (no GeoTIFF reader needed).

    python -m floodsar.training.pack --synthetic data/synthetic --teacher runs/bundled_teacher/seed0/best.pt \
        --etci ../shared/data/etci2021 --real ../shared/data/real --out .gpu/pack.npz

:mod:`floodsar.training.recipe` trains from the pack alone, so the same run works here and on a bare GPU
machine without rasterio. Contents (``<set>_x`` images, ``<set>_y`` labels 0 dry / 1 water / 255 unknown):

- ``gen``: the generated hand-labelled training chips (dB quantised by :func:`quantise_db`);
- ``pseudo``: the generated "additional" chips labelled by the S1+S2 teacher (cross-modal distillation: hard
  labels where the teacher is at least :data:`CONFIDENCE` sure, else unknown);
- ``genval``: the generated validation split (picks checkpoint and threshold for a model without ETCI);
- ``etci``: ETCI Bangladesh training tiles (8-bit DN, 0 = no data; tile columns < :data:`etci.FIRST_VALID_COL`
  minus a 2-column gap) whose labelled water is visible (:func:`visible_water`); ``etcival``: the validation
  block (columns >= :data:`etci.FIRST_VALID_COL`: its tiles with water and evenly spread dry ones), which picks checkpoint, threshold and
  calibration of the shipped model; ``etci_stats`` / ``etcival_stats``: their scene statistics [band, (median,
  spread)] in nominal dB, computed on each block's mosaic as the engine does;
- ``report``: the labelled real chips of ../shared/data/real (Sen1Floods11, STAC Overflow), only to REPORT
  scores of a run on a machine without the engine's reader; they never train or select anything.

Nebraska is left out: its flood_label pixels are brighter than its dry land (median VV 137 vs 128 DN, VH
172 vs 154 DN: frozen ground or labels not from this image), so they would teach the model that bright land
is water.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.errors import FloodSarError
from . import etci

QUANT_OFFSET_DB, QUANT_STEP_DB, QUANT_NODATA = -40.0, 0.2, 255
CONFIDENCE = 0.7
ETCI_SCENE = "bangladesh_20170314t115609"
#: A training tile's water must be this much darker (VH, DN) than the block's dry land: about 3 dB.
VISIBLE_WATER_DN = 32


def quantise_db(db: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint8 dB in 0.2 dB steps from -40 dB (0..250), 255 = no data."""
    q = np.clip(np.round((np.nan_to_num(db) - QUANT_OFFSET_DB) / QUANT_STEP_DB), 0, 250).astype(np.uint8)
    q[:, ~valid] = QUANT_NODATA
    return q


def dequantise_db(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float32 dB with NaN at no data, bool valid) of a quantised stack [..., 2, H, W]."""
    valid = (q != QUANT_NODATA).all(axis=-3)
    db = q.astype(np.float32) * np.float32(QUANT_STEP_DB) + np.float32(QUANT_OFFSET_DB)
    return np.where(np.expand_dims(valid, -3), db, np.float32(np.nan)), valid


def _label_u8(label: np.ndarray) -> np.ndarray:
    return np.where((label == 0) | (label == 1), label, 255).astype(np.uint8)


def _generated(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import Sen1Floods11Hand, read_raster, read_s1

    xs, ys = [], []
    for chip in Sen1Floods11Hand(root, split).chips:
        db, valid = read_s1(chip.s1)
        xs.append(quantise_db(db, valid))
        ys.append(_label_u8(np.where(valid, read_raster(chip.label)[0], -1)))
    return np.stack(xs), np.stack(ys)


def _pseudo(root: Path, teacher: Path, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import paired_chips, read_raster, read_s1
    from .pseudo_label import SUFFIX, label_folder, to_target

    folder = root / "additional"
    label_folder(teacher, folder, workdir, "cpu", progress=False)
    xs, ys = [], []
    for chip in paired_chips(folder):
        db, valid = read_s1(chip.s1)
        target = to_target(read_raster(workdir / f"{chip.name}{SUFFIX}")[0], "hard", CONFIDENCE)
        xs.append(quantise_db(db, valid))
        ys.append(_label_u8(np.where(valid, target, -1)))
    return np.stack(xs), np.stack(ys)


def visible_water(tiles: list[etci.EtciTile]) -> list[etci.EtciTile]:
    """Tiles without water, or whose labelled water is clearly darker in VH than the block's dry land.

    In parts of the Bangladesh scene (its south-west) the flood label covers land barely darker than dry
    land (flooded crops, or labels not from this image); a Sentinel-1 open-water model cannot learn those.
    """
    read = [(t, *etci.read_dn(t)) for t in tiles]
    dry = np.concatenate([dn[1][valid & (etci.read_label(t, valid) == 0)][::17] for t, dn, valid in read])
    dry_vh = float(np.median(dry))
    keep = []
    for tile, dn, valid in read:
        water = dn[1][etci.read_label(tile, valid) == 1]
        if water.size == 0 or np.median(water) <= dry_vh - VISIBLE_WATER_DN:
            keep.append(tile)
    return keep


def validation_subset(tiles: list[etci.EtciTile], count: int) -> list[etci.EtciTile]:
    """Every tile with labelled water, then dry tiles evenly spread in name order, ``count`` in all."""
    wet = [t for t in tiles if (etci.read_label(t, etci.read_dn(t)[1]) == 1).any()][:count]
    dry = [t for t in tiles if t not in wet]
    picks = np.linspace(0, len(dry) - 1, max(count - len(wet), 0)).astype(int) if dry else []
    return wet + [dry[i] for i in sorted(set(picks))]


def _etci(tiles: list[etci.EtciTile]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys = [], []
    for tile in tiles:
        dn, valid = etci.read_dn(tile)
        dn[:, ~valid] = 0
        xs.append(dn)
        ys.append(_label_u8(etci.read_label(tile, valid)))
    stats = etci.EtciMosaic(tiles).statistics()
    return np.stack(xs), np.stack(ys), np.array([stats.location, stats.scale], np.float32).T


def _report(real: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ..engine.sentinel1 import open_sentinel1
    from .evaluate_real import find_chips

    xs, ys, names = [], [], []
    for chip in find_chips(real):
        label = chip.read_label()
        try:
            with open_sentinel1(list(chip.inputs)) as source:
                db, valid = source.read_db(0, 0, source.grid.height, source.grid.width)
        except FloodSarError:
            continue
        if not valid.any() or (label == -1).all() or label.shape != (512, 512):
            continue
        xs.append(quantise_db(db, valid))
        ys.append(_label_u8(np.where(valid, label, -1)))
        names.append(f"{chip.dataset}/{chip.name}")
    return np.stack(xs), np.stack(ys), np.array(names)


@dataclass(frozen=True)
class Counts:
    """At most this many items per set (a pack for a GPU machine must stay small: about 40 MB)."""

    gen: int = 1000
    pseudo: int = 1000
    genval: int = 1000
    etci: int = 400
    etcival: int = 96
    report: int = 1000


def _first(arrays: tuple[np.ndarray, ...], count: int) -> tuple[np.ndarray, ...]:
    return tuple(a[:count] for a in arrays)


def build(synthetic: Path, teacher: Path, etci_root: Path, real: Optional[Path], counts: Counts,
          workdir: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """All arrays of the pack (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    arrays["gen_x"], arrays["gen_y"] = _first(_generated(synthetic, "train"), counts.gen)
    arrays["genval_x"], arrays["genval_y"] = _first(_generated(synthetic, "valid"), counts.genval)
    arrays["pseudo_x"], arrays["pseudo_y"] = _first(_pseudo(synthetic, teacher, workdir), counts.pseudo)
    tiles = [t for t in etci.find_tiles(etci_root / ETCI_SCENE)[0]]
    train, valid = etci.split_cols(tiles, etci.FIRST_VALID_COL)
    train = visible_water(train)
    valid = validation_subset(valid, counts.etcival)
    if len(train) > counts.etci:
        rng = np.random.default_rng(seed)
        train = [train[i] for i in sorted(rng.choice(len(train), counts.etci, replace=False))]
    arrays["etci_x"], arrays["etci_y"], arrays["etci_stats"] = _etci(train)
    arrays["etcival_x"], arrays["etcival_y"], arrays["etcival_stats"] = _etci(valid)
    arrays["etci_names"] = np.array([t.name for t in train])
    arrays["etcival_names"] = np.array([t.name for t in valid])
    if real is not None:
        arrays["report_x"], arrays["report_y"], arrays["report_names"] = _report(real)
    return arrays


def subset(pack: Path, counts: Counts) -> dict[str, np.ndarray]:
    """The arrays of an existing pack with at most ``counts`` items per set (evenly spread over each set)."""
    limits = dataclasses.asdict(counts)
    with np.load(pack) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key, value in arrays.items():
        name = key.rsplit("_", 1)[0]
        if name in limits and not key.endswith("_stats") and len(value) > limits[name]:
            arrays[key] = value[np.linspace(0, len(value) - 1, limits[name]).astype(int)]
    empty = {key[:-2] for key, value in arrays.items() if key.endswith("_x") and len(value) == 0}
    return {key: value for key, value in arrays.items() if key.rsplit("_", 1)[0] not in empty}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floodsar.training.pack", description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", type=Path, help="generated data root (contains v1.1/)")
    parser.add_argument("--teacher", type=Path, help="S1+S2 teacher checkpoint (best.pt)")
    parser.add_argument("--etci", type=Path, help="ETCI 2021 folder (contains the scene folders)")
    parser.add_argument("--subset", type=Path, help="instead of building: copy this pack with the --max-* limits")
    parser.add_argument("--real", type=Path, help="shared real-data folder: chips for reporting only")
    for name, default in dataclasses.asdict(Counts()).items():
        parser.add_argument(f"--max-{name}", type=int, default=default, help=f"at most this many {name} items")
    parser.add_argument("--out", type=Path, default=Path(".gpu/pack.npz"))
    args = parser.parse_args(argv)
    import tempfile

    from ..engine.raster_io import atomic_output

    try:
        counts = Counts(**{name: getattr(args, f"max_{name}") for name in dataclasses.asdict(Counts())})
        if args.subset is not None:
            arrays = subset(args.subset, counts)
        elif None in (args.synthetic, args.teacher, args.etci):
            raise FloodSarError("pass --synthetic, --teacher and --etci (or --subset PACK).")
        else:
            with tempfile.TemporaryDirectory(prefix="floodsar-pack-") as workdir:
                arrays = build(args.synthetic, args.teacher, args.etci, args.real, counts, Path(workdir))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(args.out) as tmp:
            with tmp.open("wb") as handle:
                np.savez_compressed(handle, **arrays)
    except FloodSarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{k} {v.shape[0]}" for k, v in arrays.items() if k.endswith("_x"))
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB ({sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
