"""Output rasters: the water mask and the water probability, written safely and checked.

Encoding:
  mask         uint8: 0 dry, 1 water, 255 nodata; colour table (dry grey, water blue)
  classes      uint8: 0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata; colour table
  probability  float32: water probability 0..1, -1 nodata (NaN written is stored as -1)
Both: same grid and CRS as the input, tiled 512 x 512, DEFLATE with predictor,
BIGTIFF=IF_SAFER, internal overviews. Each is written into a temporary file in the
output folder (:class:`.safe_write.StagedOutputs`), given overviews, checked, and renamed
onto the final name only when the run succeeded. The check proves every block reached the
disk without reading the pixels back: GDAL may only print an error when a full disk stops a
write, but the file's directory then records a block with no bytes, or bytes past the end of
the file.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Optional

import numpy as np

from .errors import FloodSarError
from .formats import overview_factors
from .grid import RasterGrid
from .mask_encoding import CLASS_COLOURS, MASK_COLOURS, NODATA, PROBABILITY_NODATA
from .raster_io import RasterIO
from .safe_write import StagedOutputs, check_writable

KINDS = {
    # kind: (dtype, nodata, colour table, band description, overview resampling)
    "mask": ("uint8", NODATA, MASK_COLOURS, "water mask (0 dry, 1 water, 255 nodata)",
             "nearest"),
    "classes": ("uint8", NODATA, CLASS_COLOURS,
                "flood classes (0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata)", "nearest"),
    "probability": ("float32", PROBABILITY_NODATA, None, "water probability (0..1, -1 nodata)",
                    "average"),
}


def write_error(final: Path, reason: object) -> FloodSarError:
    return FloodSarError(f"{final}: could not write the output ({reason}); nothing was saved: "
                         "check free disk space and permissions.")


def check_stored(path: Path, io: RasterIO) -> None:
    """OSError unless every block of ``path`` (overviews included) lies whole inside the file."""
    size = path.stat().st_size
    blocks = io.stored_blocks(path)
    lost = sum(1 for offset, length in blocks if not length or offset is None or offset + length > size)
    if lost:
        raise OSError(f"{lost} of {len(blocks)} blocks did not reach the disk")


def finish_geotiff(tmp: Path, final: Path, grid: RasterGrid, kind: str, io: RasterIO) -> None:
    """Add a closed output's overviews and check that all of it reached the disk; FloodSarError if not."""
    try:
        io.add_overviews(tmp, overview_factors(grid), KINDS[kind][4])
        check_stored(tmp, io)
    except FloodSarError as exc:  # the file does not open or decode: it was cut short
        raise write_error(final, "it is unreadable after writing") from exc
    except io.write_errors as exc:
        raise write_error(final, exc) from exc


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
            finish_geotiff(self._tmp, self.path, self._grid, self.kind, self._io)
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
