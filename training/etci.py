"""ETCI 2021 flood detection tiles: real Sentinel-1 VV + VH, 8-bit stretched, 256 px, no georeferencing.

Layout (``<scene>/vv/<tile>_vv.png``, ``vh/<tile>_vh.png``, ``flood_label/<tile>.png``,
``water_body_label/<tile>.png``; tile = ``<scene>_x-<row>_y-<col>``; see ../shared/data/etci2021/README.md).

- **Tile position**: ``x`` is the tile ROW and ``y`` the tile COLUMN of the scene (measured: the bottom edge of
  ``x-i`` continues into the top edge of ``x-(i+1)``), so the tiles of a scene form a mosaic.
- **Water** = flood_label OR water_body_label (label 1); everything else with data is 0; no data is -1.
- **No data**: VV or VH = 0, or VV and VH both = 255 (outside the swath the Bangladesh scene holds 255 in both
  bands, 23% of its pixels; a single saturated band is real bright land and stays valid).
- **DN to dB**: the stretch is undocumented. :data:`DN_TO_DB` is a NOMINAL linear map per band, fitted once on
  the training block of the Bangladesh scene (tile columns 0-30, as :mod:`floodsar.training.pack` splits it)
  by matching its median water and dry-land DN (water VV 93, VH 113; dry VV 151, VH 200) to the
  median water and dry-land dB of the generated training chips (water VV -16.8, VH -25.7; dry VV -10.0,
  VH -16.9 dB). It puts ETCI tiles on a plausible dB scale for the engine (units detection, the engine
  Otsu's fixed dB rules); a model with ``normalisation = "scene"`` does not depend on it, since any
  increasing linear map of a band leaves its per-scene standardised values unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..engine.errors import FloodSarError
from ..engine.metadata import ModelMetadata
from ..engine.scene_statistics import SceneStatistics, sample

TILE = 256
#: dB = gain * DN + offset, per band (VV, VH); see the module docstring for how it was fitted.
DN_TO_DB = {"VV": (0.1172, -27.70), "VH": (0.1011, -37.13)}
IGNORE_INDEX = -1
_NAME = re.compile(r"^(?P<scene>.+)_x-(?P<row>\d+)_y-(?P<col>\d+)_vv\.png$")


@dataclass(frozen=True)
class EtciTile:
    """The files of one tile and its position (tile row, tile column) in its scene."""

    scene: str
    name: str
    row: int
    col: int
    folder: Path

    @property
    def vv(self) -> Path:
        return self.folder / "vv" / f"{self.name}_vv.png"

    @property
    def vh(self) -> Path:
        return self.folder / "vh" / f"{self.name}_vh.png"

    @property
    def labels(self) -> tuple[Path, Path]:
        return self.folder / "flood_label" / f"{self.name}.png", self.folder / "water_body_label" / f"{self.name}.png"


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except (OSError, ValueError) as exc:
        raise FloodSarError(f"{path}: cannot be read as a PNG tile ({exc}).") from exc
    if array.ndim == 3:  # the originals were three identical channels
        array = array[..., 0]
    if array.shape != (TILE, TILE):
        raise FloodSarError(f"{path}: is {array.shape[1]}x{array.shape[0]} px; ETCI tiles are {TILE}x{TILE}.")
    return array


def read_dn(tile: EtciTile) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [2, 256, 256] VV, VH digital numbers, bool valid) of a tile."""
    dn = np.stack([_png(tile.vv), _png(tile.vh)]).astype(np.uint8)
    valid = (dn > 0).all(axis=0) & ~(dn == 255).all(axis=0)
    return dn, valid


def read_label(tile: EtciTile, valid: np.ndarray) -> np.ndarray:
    """int64 [256, 256]: 1 water (flood OR reference water), 0 dry, -1 no data."""
    flood, water_body = (_png(path) > 0 for path in tile.labels)
    label = (flood | water_body).astype(np.int64)
    label[~valid] = IGNORE_INDEX
    return label


def to_db(dn: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 [2, H, W] nominal dB (:data:`DN_TO_DB`), NaN where there is no data."""
    gain = np.array([DN_TO_DB["VV"][0], DN_TO_DB["VH"][0]], np.float32)[:, None, None]
    offset = np.array([DN_TO_DB["VV"][1], DN_TO_DB["VH"][1]], np.float32)[:, None, None]
    db = dn.astype(np.float32) * gain + offset
    db[:, ~valid] = np.nan
    return db


def find_tiles(folder: Path) -> tuple[list[EtciTile], list[str]]:
    """The tiles under ``folder`` (one scene folder, or a folder of scene folders) and notes on skipped ones.

    A tile needs its VV, VH and both label files; one with a file missing is skipped with a note.
    """
    folder = Path(folder)
    scenes = [folder] if (folder / "vv").is_dir() else sorted(p for p in folder.iterdir() if (p / "vv").is_dir()) \
        if folder.is_dir() else []
    if not scenes:
        raise FloodSarError(f"{folder}: no ETCI scene found; expected <scene>/vv/<scene>_x-<i>_y-<j>_vv.png "
                            "(a scene folder, or a folder holding scene folders).")
    tiles, notes = [], []
    for scene_folder in scenes:
        for vv in sorted((scene_folder / "vv").glob("*_vv.png")):
            match = _NAME.match(vv.name)
            if not match:
                notes.append(f"{vv.name} (name is not <scene>_x-<row>_y-<col>_vv.png)")
                continue
            tile = EtciTile(match["scene"], vv.name[:-len("_vv.png")], int(match["row"]), int(match["col"]),
                            scene_folder)
            missing = [p.name for p in (tile.vh, *tile.labels) if not p.is_file()]
            if missing:
                notes.append(f"{tile.name} (missing {', '.join(missing)})")
                continue
            tiles.append(tile)
    return tiles, notes


def by_scene(tiles: list[EtciTile]) -> dict[str, list[EtciTile]]:
    scenes: dict[str, list[EtciTile]] = {}
    for tile in tiles:
        scenes.setdefault(tile.scene, []).append(tile)
    return scenes


class EtciMosaic:
    """The tiles of one scene placed at their rows and columns (tiles absent from the folder are no data)."""

    def __init__(self, tiles: list[EtciTile]) -> None:
        if not tiles or len({t.scene for t in tiles}) != 1:
            raise ValueError("a mosaic needs the tiles of exactly one scene")
        self.tiles = tiles
        self.row0, self.col0 = min(t.row for t in tiles), min(t.col for t in tiles)
        self.height = (max(t.row for t in tiles) - self.row0 + 1) * TILE
        self.width = (max(t.col for t in tiles) - self.col0 + 1) * TILE

    def offset(self, tile: EtciTile) -> tuple[int, int]:
        """Pixel (row, col) of a tile's top-left corner in the mosaic."""
        return (tile.row - self.row0) * TILE, (tile.col - self.col0) * TILE

    def read_dn(self) -> Iterator[tuple[EtciTile, np.ndarray, np.ndarray]]:
        """(tile, dn, valid) of every tile, read one at a time."""
        for tile in self.tiles:
            yield (tile, *read_dn(tile))

    def statistics(self) -> SceneStatistics:
        """Scene statistics of the nominal dB mosaic, from the windows the engine samples (no mosaic in memory)."""
        where = {(t.row - self.row0, t.col - self.col0): t for t in self.tiles}
        cache: dict[tuple[int, int], np.ndarray] = {}

        def read(row: int, col: int, height: int, width: int) -> np.ndarray:
            db = np.full((2, height, width), np.nan, np.float32)
            for r in range(row // TILE, (row + height - 1) // TILE + 1):
                for c in range(col // TILE, (col + width - 1) // TILE + 1):
                    if (r, c) not in where:
                        continue
                    if (r, c) not in cache:
                        cache[(r, c)] = to_db(*read_dn(where[(r, c)]))
                    top, left = max(row, r * TILE), max(col, c * TILE)
                    bottom, right = min(row + height, (r + 1) * TILE), min(col + width, (c + 1) * TILE)
                    db[:, top - row:bottom - row, left - col:right - col] = \
                        cache[(r, c)][:, top - r * TILE:bottom - r * TILE, left - c * TILE:right - c * TILE]
            return db[:, np.isfinite(db).all(axis=0)]

        return SceneStatistics.from_values(sample(read, self.height, self.width))


#: First tile column of the Bangladesh validation block (training/pack.py; the DN map was fitted on columns 0-30).
FIRST_VALID_COL = 33


def split_cols(tiles: list[EtciTile], first_valid_col: int, gap: int = 2) -> tuple[list[EtciTile], list[EtciTile]]:
    """(training, validation) tiles: validation from tile column ``first_valid_col`` on; the ``gap`` columns
    before it belong to neither, so the two blocks are spatially apart."""
    train = [t for t in tiles if t.col < first_valid_col - gap]
    valid = [t for t in tiles if t.col >= first_valid_col]
    return train, valid


class Etci2021:
    """ETCI tiles as torchgeo-style samples ``{'image', 'mask', 'valid'}`` (numpy; wrap in torch as needed).

    ``image`` is the model input: nominal dB normalised with ``metadata`` and, for a model normalised per
    scene, the statistics of the tile's whole scene (as the engine computes them on the scene's mosaic).
    """

    def __init__(self, tiles: list[EtciTile], metadata: ModelMetadata) -> None:
        self.tiles = tiles
        self.metadata = metadata
        self.statistics: dict[str, Optional[SceneStatistics]] = {
            scene: EtciMosaic(scene_tiles).statistics() if metadata.normalisation == "scene" else None
            for scene, scene_tiles in by_scene(tiles).items()}

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> dict:
        tile = self.tiles[index]
        dn, valid = read_dn(tile)
        db = to_db(dn, valid)
        image = self.metadata.normalise(np.where(valid, db, 0.0), self.statistics[tile.scene])
        image[:, ~valid] = 0.0
        return {"image": image, "mask": read_label(tile, valid), "valid": valid}
