"""Folder layouts of labelled real Sentinel-1 data that :mod:`floodsar.training.evaluate_real` scores.

Each layout turns a folder into :class:`RealChip` s: the raster file(s) ``floodsar predict`` maps, a label
raster on the same grid (1 water, 0 dry, anything else unknown) and, optionally, named windows scored on
their own (the tiles of an ETCI mosaic). Add a layout by writing a finder and registering it in
:data:`LAYOUTS`.

- ``sen1floods11``: ``S1Hand/<chip>_S1Hand.tif`` + ``LabelHand/<chip>_LabelHand.tif`` in the folder or in
  any folder below it (the v1.1 ``HandLabeled`` folder, or ../shared/data/real/sen1floods11).
- ``stac_overflow``: ``<chip>_vv.tif``, ``<chip>_vh.tif`` with the label ``<chip>.tif`` beside them or in a
  sibling ``train_labels/`` (DrivenData's layout), label 255 = unknown.
- ``etci``: ETCI 2021 PNG tiles (:mod:`floodsar.training.etci`). They have no georeferencing and are 8-bit:
  the tiles of each scene are placed at their row and column into ONE mosaic GeoTIFF (VV, VH in nominal dB
  by :data:`floodsar.training.etci.DN_TO_DB`, NaN = no data, a nominal 10 m grid) and that mosaic goes
  through ``floodsar predict`` like any user's scene; each tile is then scored on its own window. So the
  engine does everything it does for a real scene (units detection, nodata rules, tiling with overlap,
  per-scene statistics when the model is normalised per scene); only the dB values are nominal.
  ``etci_block`` picks the tile columns scored: ``validation`` (from :data:`floodsar.training.etci.FIRST_VALID_COL`
  = 33 on, the block :mod:`floodsar.training.pack` keeps for selection; the nominal dB map was fitted on
  columns 0-30) or ``training`` (columns 0-30).
- ``ombria``: OMBRIA pre-/post-flood pairs (:mod:`floodsar.training.ombria`; a split folder holding
  ``BEFORE/``, ``AFTER/``, ``MASK/``, or any folder above such folders). Each 8-bit single-polarisation
  tile becomes a one-band VV GeoTIFF in nominal dB (the ETCI VV map, :data:`floodsar.training.etci.DN_TO_DB`,
  not fitted on OMBRIA; DN 0 = no data) on the nominal grid; the AFTER tile is the chip's input and the
  BEFORE tile its pre-flood image (``chip.pre``); the label is the EMS mask (1 flooded), unknown where either
  date has no data. These chips score FLOOD, not water.
- ``dry``: every GeoTIFF under the folder is real dry land without a label file: every valid pixel counts as
  dry, so a method's water share there is its false water (e.g. ../shared/data/real/other/terramind_s1rtc).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..engine.rasterio_io import RasterioIO
from ..engine.errors import FloodSarError
from . import etci, ombria
from .evaluate import IGNORE_INDEX

#: Nominal grid of an ETCI mosaic: 10 m pixels in a metric CRS (the tiles carry no position).
NOMINAL_CRS, NOMINAL_PIXEL_M = "EPSG:3857", 10.0
LABEL_NODATA = 255


@dataclass(frozen=True)
class RealChip:
    """One labelled real raster: its Sentinel-1 input file(s), a label and the windows scored on their own."""

    name: str
    dataset: str
    inputs: tuple[Path, ...]
    #: label raster on the inputs' grid; None: every pixel is dry (a false-water check)
    label: Optional[Path]
    #: (name, row, col, height, width) of windows reported separately; empty: the whole raster is one chip
    parts: tuple[tuple[str, int, int, int, int], ...] = ()
    #: pre-flood image file(s): the label then marks flood (new water), scored against change detection
    pre: tuple[Path, ...] = ()

    def read_label(self) -> np.ndarray:
        """int16 labels: 1 water (flood when ``pre`` is set), 0 dry, -1 unknown."""
        with RasterioIO().open_raster(self.label or self.inputs[0]) as raster:
            if self.label is None:
                return np.zeros((raster.grid.height, raster.grid.width), np.int16)
            label = raster.read_window([1], 0, 0, raster.grid.height, raster.grid.width)[0].astype(np.int16)
        label[(label != 0) & (label != 1)] = IGNORE_INDEX
        return label

    def windows(self, shape: tuple[int, int]) -> list[tuple[str, tuple[slice, slice]]]:
        """(name, index) of every scored window of a raster of ``shape``."""
        if not self.parts:
            return [(self.name, (slice(0, shape[0]), slice(0, shape[1])))]
        return [(name, (slice(r, r + h), slice(c, c + w))) for name, r, c, h, w in self.parts]


#: A finder maps (folder, work folder for files it must write) to (chips, notes on what was skipped).
Finder = Callable[[Path, Path], tuple[list[RealChip], list[str]]]


def sen1floods11(folder: Path, workdir: Path) -> tuple[list[RealChip], list[str]]:
    chips, notes = [], []
    s1_folders = [folder / "S1Hand"] if (folder / "S1Hand").is_dir() else sorted(folder.rglob("S1Hand"))
    for s1_folder in s1_folders:
        for s1 in sorted(s1_folder.glob("*_S1Hand.tif")):
            name = s1.name[: -len("_S1Hand.tif")]
            label = s1_folder.parent / "LabelHand" / f"{name}_LabelHand.tif"
            if label.is_file():
                chips.append(RealChip(name, "Sen1Floods11", (s1,), label))
            else:
                notes.append(f"{name} (no {label.name})")
    return chips, notes


def stac_overflow(folder: Path, workdir: Path) -> tuple[list[RealChip], list[str]]:
    chips, notes = [], []
    for vv in sorted(folder.rglob("*_vv.tif")):
        stem = vv.name[: -len("_vv.tif")]
        vh = vv.with_name(f"{stem}_vh.tif")
        labels = [vv.with_name(f"{stem}.tif"), vv.parent.parent / "train_labels" / f"{stem}.tif"]
        label = next((p for p in labels if p.is_file()), None)
        if label is None or not vh.is_file():
            notes.append(f"{stem} (no {'label' if vh.is_file() else vh.name})")
        else:
            chips.append(RealChip(stem, "STAC Overflow", (vv, vh), label))
    return chips, notes


#: ETCI tile blocks: all tiles, or the columns pack.py trains on / keeps for selection (2 columns between).
ETCI_BLOCKS = ("all", "training", "validation")


def etci_mosaics(folder: Path, workdir: Path, block: str = "all") -> tuple[list[RealChip], list[str]]:
    """One mosaic GeoTIFF (and label GeoTIFF) per scene, written into ``workdir``; ``block``: which tiles."""
    tiles, notes = etci.find_tiles(folder)
    if block != "all":
        tiles = etci.split_cols(tiles, etci.FIRST_VALID_COL)[ETCI_BLOCKS.index(block) - 1]
    chips = []
    for scene, scene_tiles in etci.by_scene(tiles).items():
        mosaic = etci.EtciMosaic(scene_tiles)
        image, label = workdir / f"{scene}_s1.tif", workdir / f"{scene}_label.tif"
        parts = _write_mosaic(mosaic, image, label, notes)
        if parts:
            chips.append(RealChip(scene, "ETCI 2021", (image,), label, tuple(parts)))
    return chips, notes


def _write_mosaic(mosaic: etci.EtciMosaic, image: Path, label: Path, notes: list[str]
                  ) -> list[tuple[str, int, int, int, int]]:
    import rasterio

    profile = _nominal_profile(mosaic.height, mosaic.width)
    parts = []
    with rasterio.open(image, "w", count=2, dtype="float32", nodata=float("nan"), **profile) as s1, \
            rasterio.open(label, "w", count=1, dtype="uint8", nodata=LABEL_NODATA, **profile) as lab:
        s1.descriptions = ("VV", "VH")
        for tile in mosaic.tiles:
            try:
                dn, valid = etci.read_dn(tile)
                truth = etci.read_label(tile, valid)
            except FloodSarError as exc:
                notes.append(f"{tile.name} ({exc})")
                continue
            row, col = mosaic.offset(tile)
            window = rasterio.windows.Window(col, row, etci.TILE, etci.TILE)
            s1.write(etci.to_db(dn, valid), window=window)
            lab.write(np.where(truth == IGNORE_INDEX, LABEL_NODATA, truth).astype(np.uint8)[None], window=window)
            parts.append((tile.name, row, col, etci.TILE, etci.TILE))
    return parts


def _nominal_profile(height: int, width: int) -> dict:
    """GeoTIFF profile of a raster without georeferencing placed on the nominal 10 m grid."""
    from rasterio.transform import from_origin

    return {"driver": "GTiff", "width": width, "height": height, "crs": NOMINAL_CRS,
            "transform": from_origin(0.0, 0.0, NOMINAL_PIXEL_M, NOMINAL_PIXEL_M), "tiled": True,
            "blockxsize": etci.TILE, "blockysize": etci.TILE, "compress": "deflate", "BIGTIFF": "IF_SAFER"}


def _write_vv(path: Path, dn: np.ndarray) -> Path:
    """A one-band VV GeoTIFF in nominal dB (the ETCI VV map; NaN where DN is 0) on the nominal grid."""
    import rasterio

    gain, offset = etci.DN_TO_DB["VV"]
    db = np.where(dn > 0, dn * np.float32(gain) + np.float32(offset), np.nan).astype(np.float32)
    with rasterio.open(path, "w", count=1, dtype="float32", nodata=float("nan"), **_nominal_profile(*dn.shape)) as out:
        out.write(db, 1)
        out.set_band_description(1, "VV")
    return path


def ombria_pairs(folder: Path, workdir: Path) -> tuple[list[RealChip], list[str]]:
    """One chip per OMBRIA pair (after tile, before tile as ``pre``, EMS mask), written into ``workdir``."""
    import rasterio

    chips, notes = [], []
    for split_folder in ombria.split_folders(folder):
        pairs, skipped = ombria.pairs_in(split_folder)
        notes += skipped
        for pair in pairs:
            name = f"{pair.split}_{pair.id}"
            try:
                before, after, mask = ombria.read_pair(pair)
            except FloodSarError as exc:
                notes.append(f"{name} ({exc})")
                continue
            label = workdir / f"{name}_mask.tif"
            with rasterio.open(label, "w", count=1, dtype="uint8", nodata=LABEL_NODATA,
                               **_nominal_profile(*mask.shape)) as out:
                out.write(np.where(mask == IGNORE_INDEX, LABEL_NODATA, mask).astype(np.uint8), 1)
            chips.append(RealChip(name, f"OMBRIA {pair.split}", (_write_vv(workdir / f"{name}_after.tif", after),),
                                  label, pre=(_write_vv(workdir / f"{name}_before.tif", before),)))
    return chips, notes


def dry_land(folder: Path, workdir: Path) -> tuple[list[RealChip], list[str]]:
    """Every GeoTIFF under ``folder`` as a dry chip (no label file: every valid pixel is dry)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".tif", ".tiff"))
    return [RealChip(path.stem, "dry land", (path,), None) for path in files], []


LAYOUTS: dict[str, Finder] = {"sen1floods11": sen1floods11, "stac_overflow": stac_overflow, "etci": etci_mosaics,
                              "ombria": ombria_pairs, "dry": dry_land}


def find_chips(layout: str, folder: Path, workdir: Path, etci_block: str = "all") -> tuple[list[RealChip], list[str]]:
    """The chips of ``folder`` in ``layout`` (``etci_block``: see :data:`ETCI_BLOCKS`); FloodSarError when
    there are none."""
    if layout not in LAYOUTS:
        raise FloodSarError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}.")
    if not folder.is_dir():
        raise FloodSarError(f"{folder}: folder not found; pass a folder in the {layout} layout.")
    if etci_block != "all" and layout != "etci":
        raise FloodSarError("--etci-block applies to --layout etci only.")
    chips, notes = (etci_mosaics(folder, workdir, etci_block) if layout == "etci"
                    else LAYOUTS[layout](folder, workdir))
    if not chips:
        raise FloodSarError(f"{folder}: no labelled chips in the {layout} layout found; see "
                            "'python -m floodsar.training.evaluate_real --help' for the layouts.")
    return chips, notes
