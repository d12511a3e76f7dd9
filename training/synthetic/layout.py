"""Writing generated chips in the Sen1Floods11 v1.1 folder layout (:mod:`floodsar.training.sen1floods11`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...engine.safe_write import atomic_output
from ..sen1floods11 import ADDITIONAL, HAND, S2_BANDS, SPLIT_NAMES, SPLITS, WEAK
from .chip import GeneratedChip

PIXEL_DEG = 8.9831528412e-05  # Sen1Floods11's ~10 m grid in EPSG:4326


def write_geotiff(path: Path, array: np.ndarray, origin: tuple[float, float],
                  nodata: float | None = None, descriptions: tuple[str, ...] | None = None) -> None:
    """Write a [bands, H, W] or [H, W] array as a DEFLATE GeoTIFF on the EPSG:4326 chip grid, atomically."""
    import rasterio
    from rasterio.transform import from_origin

    array = array[None] if array.ndim == 2 else array
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
                   dtype=array.dtype.name, crs="EPSG:4326", compress="deflate", nodata=nodata,
                   transform=from_origin(origin[0], origin[1], PIXEL_DEG, PIXEL_DEG))
    with atomic_output(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array)
            for band, text in enumerate(descriptions or (), start=1):
                dst.set_band_description(band, text)


def write_s1(path: Path, chip: GeneratedChip, origin: tuple[float, float]) -> None:
    write_geotiff(path, chip.s1, origin, nodata=float("nan"), descriptions=("VV", "VH"))


def write_s2(path: Path, chip: GeneratedChip, origin: tuple[float, float]) -> None:
    write_geotiff(path, chip.s2, origin, nodata=0, descriptions=S2_BANDS)


def write_hand(root: Path, name: str, chip: GeneratedChip, origin: tuple[float, float]) -> None:
    """S1Hand, S2Hand, LabelHand and JRCWaterHand files of one hand-labelled chip."""
    write_s1(root / HAND / "S1Hand" / f"{name}_S1Hand.tif", chip, origin)
    write_s2(root / HAND / "S2Hand" / f"{name}_S2Hand.tif", chip, origin)
    write_geotiff(root / HAND / "LabelHand" / f"{name}_LabelHand.tif", chip.label, origin)
    write_geotiff(root / HAND / "JRCWaterHand" / f"{name}_JRCWaterHand.tif", chip.permanent, origin)


def write_weak(root: Path, name: str, chip: GeneratedChip, origin: tuple[float, float],
               ndwi: np.ndarray, otsu: np.ndarray) -> None:
    """S1Weak with its S2IndexLabelWeak and S1OtsuLabelWeak labels."""
    write_s1(root / WEAK / "S1Weak" / f"{name}_S1Weak.tif", chip, origin)
    write_geotiff(root / WEAK / "S2IndexLabelWeak" / f"{name}_S2IndexLabelWeak.tif", ndwi, origin)
    write_geotiff(root / WEAK / "S1OtsuLabelWeak" / f"{name}_S1OtsuLabelWeak.tif", otsu, origin)


def write_additional(root: Path, name: str, chip: GeneratedChip, origin: tuple[float, float]) -> None:
    """A paired S1/S2 chip without labels (weak labels come from NDWI at training time)."""
    write_s1(root / ADDITIONAL / "S1" / f"{name}_S1.tif", chip, origin)
    write_s2(root / ADDITIONAL / "S2" / f"{name}_S2.tif", chip, origin)


def write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    """The four official-style split CSVs: CRLF lines "<chip>_S1Hand.tif,<chip>_LabelHand.tif", no header."""
    folder = root / SPLITS
    folder.mkdir(parents=True, exist_ok=True)
    for split in SPLIT_NAMES:
        text = "".join(f"{n}_S1Hand.tif,{n}_LabelHand.tif\r\n" for n in splits.get(split, []))
        path = folder / f"flood_{split}_data.csv"
        with atomic_output(path) as tmp:
            tmp.write_bytes(text.encode("ascii"))
