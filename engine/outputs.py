"""Output rasters: the water mask and the water probability, written safely and checked.

Encoding:
  mask         uint8: 0 dry, 1 water, 255 nodata; colour table (dry grey, water blue)
  classes      uint8: 0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata; colour table
  probability  float32: water probability 0..1, -1 nodata (NaN written is stored as -1)
Both: same grid and CRS as the input, tiled 512 x 512, DEFLATE with predictor,
BIGTIFF=IF_SAFER, internal overviews. Each is written into a temporary file in the
output folder (:class:`.safe_write.StagedOutputs`), read back block by block to prove
every pixel reached the disk (GDAL may only print an error when a full disk stops a
write), given overviews, and renamed onto the final name only when the run succeeded.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Optional

import numpy as np

from .errors import FloodSarError
from .formats import GTIFF_OPTIONS, overview_factors
from .grid import RasterGrid
from .mask_encoding import CLASS_COLOURS, MASK_COLOURS, NODATA, PROBABILITY_NODATA, WATER
from .raster_io import RasterIO
from .safe_write import StagedOutputs, check_writable
from .tiling import plan_tiles

KINDS = {
    # kind: (dtype, nodata, colour table, band description, overview resampling)
    "mask": ("uint8", NODATA, MASK_COLOURS, "water mask (0 dry, 1 water, 255 nodata)",
             "nearest"),
    "classes": ("uint8", NODATA, CLASS_COLOURS,
                "flood classes (0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata)", "nearest"),
    "probability": ("float32", PROBABILITY_NODATA, None, "water probability (0..1, -1 nodata)",
                    "average"),
}
#: Side of the windows a finished output is read back in (one GeoTIFF block).
CHECK_BLOCK = int(GTIFF_OPTIONS["BLOCKXSIZE"])


class Counts(NamedTuple):
    """Pixels of an output that are not nodata, and (masks) those that are water."""

    valid: int
    water: int


def write_error(final: Path, reason: object) -> FloodSarError:
    return FloodSarError(f"{final}: could not write the output ({reason}); nothing was saved: "
                         "check free disk space and permissions.")


def count_pixels(array: np.ndarray, kind: str) -> Counts:
    nodata = KINDS[kind][1]
    water = int(np.count_nonzero(array == WATER)) if kind == "mask" else 0
    return Counts(int(np.count_nonzero(array != nodata)), water)


def read_counts(path: Path, grid: RasterGrid, kind: str, io: RasterIO) -> Counts:
    """Count an output's pixels by reading it block by block (FloodSarError if it cannot be read)."""
    counts = Counts(0, 0)
    with io.open_raster(path) as raster:
        for tile in plan_tiles(grid.height, grid.width, CHECK_BLOCK, 0):
            w = tile.core
            block = count_pixels(raster.read_window([1], w.row, w.col, w.height, w.width)[0], kind)
            counts = Counts(counts.valid + block.valid, counts.water + block.water)
    return counts


def finish_geotiff(tmp: Path, final: Path, grid: RasterGrid, kind: str, expected_valid: int,
                   io: RasterIO) -> Counts:
    """Check a closed output by reading it back, then add its overviews; FloodSarError if anything failed.

    ``expected_valid`` is the number of valid pixels that were written: a block lost to a full
    disk reads back as nodata (or not at all), so the counts differ.
    """
    try:
        counts = read_counts(tmp, grid, kind, io)
        if counts.valid != expected_valid:
            raise OSError(f"{expected_valid - counts.valid} of {expected_valid} valid pixels did not reach the disk")
        io.add_overviews(tmp, overview_factors(grid), KINDS[kind][4])
    except FloodSarError as exc:  # the file does not open or decode: it was cut short
        raise write_error(final, "it is unreadable after writing") from exc
    except io.write_errors as exc:
        raise write_error(final, exc) from exc
    return counts


class OutputWriter:
    """A mask, class map or probability GeoTIFF written window by window; a context manager.

    Call :meth:`write` from one thread. With ``staged`` the file is one of a run's outputs
    (renamed when the whole run succeeds); without, the writer renames it itself on a clean
    exit. On any exception (Ctrl-C included) nothing appears at the final path.
    """

    def __init__(self, path: str | Path, grid: RasterGrid, kind: str, io: RasterIO,
                 staged: Optional[StagedOutputs] = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
        self.path = check_writable(path)
        self.kind = kind
        self.counts = Counts(0, 0)
        self._grid, self._io = grid, io
        self._dtype, self._nodata, colours, description, _ = KINDS[kind]
        self._own = staged is None
        self._staged = StagedOutputs() if staged is None else staged
        self._errors = io.write_errors
        try:  # from the temporary file's creation on, any exception (Ctrl-C too) removes it
            self._tmp = self._staged.temporary(self.path)
            self._writer = io.create_geotiff(self._tmp, grid, self._dtype, self._nodata, colours, [description])
        except BaseException as exc:
            self._drop()
            if isinstance(exc, self._errors):
                raise write_error(self.path, exc) from exc
            raise

    @property
    def temporary(self) -> Path:
        """The file being written (renamed onto :attr:`path` when the run succeeds)."""
        return self._tmp

    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        """Write a [h, w] block at a pixel offset (probability NaN is stored as nodata)."""
        if self.kind == "probability":
            array = np.where(np.isnan(array), self._nodata, array)
        array = np.asarray(array, dtype=self._dtype)
        try:
            self._writer.write(row_off, col_off, array)
        except self._errors as exc:
            raise write_error(self.path, exc) from exc
        block = count_pixels(array, self.kind)
        self.counts = Counts(self.counts.valid + block.valid, self.counts.water + block.water)

    def _drop(self) -> None:
        """After a failure: close the file, and delete it when this writer owns it."""
        if hasattr(self, "_writer"):
            with contextlib.suppress(*self._errors):
                self._writer.close()
        if self._own:
            self._staged.discard()

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._drop()
            return
        try:
            self._writer.close()
            finish_geotiff(self._tmp, self.path, self._grid, self.kind, self.counts.valid, self._io)
        except BaseException as error:
            self._drop()
            if isinstance(error, self._errors):
                raise write_error(self.path, error) from error
            raise
        if self._own:
            with self._staged:  # renames the file onto its final name
                pass


def open_output(path: str | Path, grid: RasterGrid, kind: str, io: RasterIO,
                staged: Optional[StagedOutputs] = None) -> OutputWriter:
    """Start writing a 'mask' or 'probability' GeoTIFF; FloodSarError at once if it cannot be written."""
    return OutputWriter(path, grid, kind, io, staged)


@dataclass(frozen=True)
class Target:
    """Where an output goes: its file and the run's staging it belongs to (None: the file is renamed on its
    own when written, as a scratch file between two steps is)."""

    path: Path
    staged: Optional[StagedOutputs] = None

    def open(self, grid: RasterGrid, kind: str, io: RasterIO) -> OutputWriter:
        return open_output(self.path, grid, kind, io, self.staged)
