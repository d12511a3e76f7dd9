"""Compare generated Sentinel-1 chips with real ones, per class (water / dry) and band (VV / VH).

``floodsar-train compare-real --synthetic ROOT [--real ../shared/data/real]``

Real chips: Sen1Floods11 S1Hand + LabelHand and the DrivenData (STAC Overflow) labelled VV/VH chips.
Generated chips: ROOT/v1.1/data/flood_events/HandLabeled/{S1Hand,LabelHand}. Prints pooled pixel
statistics (mean, std, 5/50/95th percentiles), the Kolmogorov-Smirnov distance and the histogram
overlap of real vs generated, then texture (speckle) and chip-to-chip diversity statistics.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..engine.errors import FloodSarError
from .real_data import ENVIRONMENT_VARIABLE, real_data_dir
from .sen1floods11 import HAND
CLASSES = {"water": 1, "dry": 0}
BANDS = ("VV", "VH")
BIN_EDGES = np.arange(-50.0, 25.0001, 0.1)


@dataclass
class LabelledChip:
    """Backscatter [2, H, W] dB (NaN nodata) and label [H, W] (1 water, 0 dry, anything else ignored)."""

    name: str
    s1: np.ndarray
    label: np.ndarray


def _read(path: Path) -> np.ndarray:
    import rasterio
    with rasterio.open(path) as src:
        return src.read()


def load_sen1floods11(s1_dir: Path, label_dir: Path, s1_suffix: str = "_S1Hand.tif",
                      label_suffix: str = "_LabelHand.tif") -> list[LabelledChip]:
    """Chips with a label and at least one valid labelled pixel."""
    chips = []
    for s1_path in sorted(s1_dir.glob(f"*{s1_suffix}")):
        name = s1_path.name[: -len(s1_suffix)]
        label_path = label_dir / f"{name}{label_suffix}"
        if not label_path.is_file():
            continue
        chip = LabelledChip(name, _read(s1_path).astype(np.float32), _read(label_path)[0])
        if (np.isfinite(chip.s1).all(axis=0) & np.isin(chip.label, (0, 1))).any():
            chips.append(chip)
    return chips


def load_drivendata(folder: Path) -> list[LabelledChip]:
    """STAC Overflow chips: <chip>_vv.tif, <chip>_vh.tif, <chip>.tif (0/1, 255 nodata; 0 dB = nodata)."""
    chips = []
    for vv_path in sorted(folder.glob("*_vv.tif")):
        name = vv_path.name[: -len("_vv.tif")]
        vh_path, label_path = folder / f"{name}_vh.tif", folder / f"{name}.tif"
        if not (vh_path.is_file() and label_path.is_file()):
            continue
        s1 = np.concatenate([_read(vv_path), _read(vh_path)]).astype(np.float32)
        s1[:, (s1 == 0).any(axis=0)] = np.nan
        chips.append(LabelledChip(name, s1, _read(label_path)[0].astype(np.int16)))
    return chips


def load_real(real: Path) -> list[LabelledChip]:
    s1f = real / "sen1floods11"
    chips = load_sen1floods11(s1f / "S1Hand", s1f / "LabelHand") + load_drivendata(real / "stac_overflow" / "labelled")
    if not chips:
        raise FloodSarError(f"{real}: no labelled real chips found (expected sen1floods11/S1Hand + LabelHand or "
                            "stac_overflow/labelled); pass --real with the shared real-data folder.")
    return chips


def load_synthetic(root: Path) -> list[LabelledChip]:
    hand = root / HAND
    chips = load_sen1floods11(hand / "S1Hand", hand / "LabelHand")
    if not chips:
        raise FloodSarError(f"{root}: no generated chips in {hand}; generate them with "
                            f"floodsar-train synthetic --out {root} first.")
    return chips


def class_values(chips: list[LabelledChip], cls: int, band: int) -> np.ndarray:
    """All valid dB values of one band on pixels labelled ``cls``."""
    parts = [c.s1[band][(c.label == cls) & np.isfinite(c.s1).all(axis=0)] for c in chips]
    return np.concatenate(parts) if parts else np.empty(0, np.float32)


def distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov distance and histogram overlap (0.5 dB bins) of two samples."""
    ha = np.histogram(np.clip(a, -50, 25), BIN_EDGES)[0] / a.size
    hb = np.histogram(np.clip(b, -50, 25), BIN_EDGES)[0] / b.size
    ks = float(np.abs(np.cumsum(ha) - np.cumsum(hb)).max())
    overlap = float(np.minimum(ha.reshape(-1, 5).sum(1), hb.reshape(-1, 5).sum(1)).sum())
    return ks, overlap


def summary(values: np.ndarray) -> tuple[float, float, float, float, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return float(values.mean()), float(values.std()), float(p5), float(p50), float(p95)


def texture(chips: list[LabelledChip], band: int = 0) -> tuple[float, float]:
    """Median speckle: lag-1 autocorrelation of dB detail and local 7x7 std (dB) on dry land."""
    corr, local_std = [], []
    for c in chips:
        x = c.s1[band].astype(np.float64)
        dry = (c.label == 0) & np.isfinite(x)
        if dry.mean() < 0.5:
            continue
        x = np.where(np.isfinite(x), x, np.nanmean(x))
        detail = x - ndimage.uniform_filter(x, 15)
        keep = dry[:, :-1] & dry[:, 1:]
        corr.append(np.corrcoef(detail[:, :-1][keep], detail[:, 1:][keep])[0, 1])
        var = ndimage.uniform_filter(x ** 2, 7) - ndimage.uniform_filter(x, 7) ** 2
        local_std.append(np.median(np.sqrt(np.maximum(var[dry], 0))))
    return (float(np.median(corr)), float(np.median(local_std))) if corr else (float("nan"), float("nan"))


def chip_diversity(chips: list[LabelledChip]) -> tuple[float, float, float]:
    """Std across chips of the dry VV mean, mean water-minus-dry VH contrast, mean water fraction."""
    dry_means, contrasts, fractions = [], [], []
    for c in chips:
        valid = np.isfinite(c.s1).all(axis=0) & np.isin(c.label, (0, 1))
        dry, water = valid & (c.label == 0), valid & (c.label == 1)
        fractions.append(water.sum() / max(valid.sum(), 1))
        if dry.sum() > 500:
            dry_means.append(c.s1[0][dry].mean())
            if water.sum() > 500:
                contrasts.append(c.s1[1][water].mean() - c.s1[1][dry].mean())
    return (float(np.std(dry_means)) if dry_means else float("nan"),
            float(np.mean(contrasts)) if contrasts else float("nan"), float(np.mean(fractions)))


def compare(real: list[LabelledChip], generated: list[LabelledChip]) -> list[dict]:
    """One row per class and band with real and generated summaries and the two distances."""
    rows = []
    for cls_name, cls in CLASSES.items():
        for band, band_name in enumerate(BANDS):
            r, g = class_values(real, cls, band), class_values(generated, cls, band)
            if r.size == 0 or g.size == 0:
                continue
            ks, overlap = distances(r, g)
            rows.append(dict(cls=cls_name, band=band_name, real=summary(r), generated=summary(g),
                             ks=ks, overlap=overlap, n_real=r.size, n_generated=g.size))
    return rows


def format_table(rows: list[dict], real: list[LabelledChip], generated: list[LabelledChip]) -> str:
    lines = ["| class | band | source | mean | std | p5 | p50 | p95 | KS | overlap |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for source in ("real", "generated"):
            stats = " | ".join(f"{v:.1f}" for v in row[source])
            tail = f"{row['ks']:.3f} | {row['overlap']:.3f}" if source == "generated" else " | "
            lines.append(f"| {row['cls']} | {row['band']} | {source} | {stats} | {tail} |")
    lines += ["", "| statistic | real | generated |", "|---|---|---|"]
    for band, band_name in enumerate(BANDS):
        (rc, rs), (gc, gs) = texture(real, band), texture(generated, band)
        lines.append(f"| {band_name} speckle lag-1 correlation (dry) | {rc:.2f} | {gc:.2f} |")
        lines.append(f"| {band_name} local 7x7 std dB (dry, median) | {rs:.2f} | {gs:.2f} |")
    (rd, rcon, rf), (gd, gcon, gf) = chip_diversity(real), chip_diversity(generated)
    lines.append(f"| std across chips of dry VV mean (dB) | {rd:.2f} | {gd:.2f} |")
    lines.append(f"| mean water-dry VH contrast per chip (dB) | {rcon:.1f} | {gcon:.1f} |")
    lines.append(f"| mean water fraction per chip | {rf:.2f} | {gf:.2f} |")
    lines.append(f"| chips | {len(real)} | {len(generated)} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synthetic", required=True, type=Path, help="root of a generated dataset")
    parser.add_argument("--real", type=Path, default=None,
                        help=f"shared real-data folder (default: ${ENVIRONMENT_VARIABLE}, else ../shared/data/real)")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train compare-real``: the statistics tables of real vs generated chips."""
    generated, real = load_synthetic(args.synthetic), load_real(args.real or real_data_dir())
    print(format_table(compare(real, generated), real, generated))
    return 0


if __name__ == "__main__":  # the older form: python -m floodsar.training.compare_real ...
    from .cli import main

    sys.exit(main(["compare-real", *sys.argv[1:]]))
