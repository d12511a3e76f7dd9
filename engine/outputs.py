"""Output rasters: the water mask and the water probability, written safely.

Encoding:
  mask         uint8: 0 dry, 1 water, 255 nodata; colour table (dry grey, water blue)
  classes      uint8: 0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata; colour table
  probability  float32: water probability 0..1, -1 nodata (NaN written is stored as -1)
Both: same grid and CRS as the input, tiled 512 x 512, DEFLATE with predictor,
BIGTIFF=IF_SAFER, internal overviews. Each is written to a hidden temporary file in
the output folder and renamed onto the final name only when complete.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from . import raster_io
from .errors import FloodSarError
from .raster_io import RasterGrid

KINDS = {
    # kind: (dtype, nodata, colour table, band description, overview resampling)
    "mask": ("uint8", raster_io.NODATA, raster_io.MASK_COLOURS, "water mask (0 dry, 1 water, 255 nodata)",
             "nearest"),
    "classes": ("uint8", raster_io.NODATA, raster_io.CLASS_COLOURS,
                "flood classes (0 dry, 1 flood, 2 reference water, 3 excluded, 255 nodata)", "nearest"),
    "probability": ("float32", raster_io.PROBABILITY_NODATA, None, "water probability (0..1, -1 nodata)",
                    "average"),
}


class OutputWriter:
    """A mask, class map or probability GeoTIFF written window by window; a context manager.

    Call :meth:`write` from one thread. On a clean exit overviews are built and the
    file is renamed onto its final path; on any exception (Ctrl-C included) the
    temporary file is deleted and nothing appears at the final path.
    """

    def __init__(self, path: str | Path, grid: RasterGrid, kind: str, io: str = "auto") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
        self.path = raster_io.check_writable(path)
        self.kind = kind
        self._dtype, self._nodata, colours, description, self._resampling = KINDS[kind]
        self._tmp = raster_io.temporary_beside(self.path)
        module = raster_io.backend(io)
        self._errors = module.WRITE_ERRORS
        try:
            self._writer = module.create_geotiff(self._tmp, grid, self._dtype, self._nodata, colours, [description])
        except self._errors as exc:
            raster_io.discard(self._tmp)
            raise self._write_error(exc) from exc
        except BaseException:
            raster_io.discard(self._tmp)
            raise

    def _write_error(self, exc: BaseException) -> FloodSarError:
        return FloodSarError(f"{self.path}: could not write the output ({exc}); "
                             "check free disk space and permissions.")

    def write(self, row_off: int, col_off: int, array: np.ndarray) -> None:
        """Write a [h, w] block at a pixel offset (probability NaN is stored as nodata)."""
        if self.kind == "probability":
            array = np.where(np.isnan(array), self._nodata, array)
        try:
            self._writer.write(row_off, col_off, np.asarray(array, dtype=self._dtype))
        except self._errors as exc:
            raise self._write_error(exc) from exc

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self._writer.finish(self._resampling)
                os.replace(self._tmp, self.path)
            else:
                self._writer.close()
        except self._errors as error:
            raise self._write_error(error) from error
        finally:
            raster_io.discard(self._tmp)


def open_output(path: str | Path, grid: RasterGrid, kind: str, io: str = "auto") -> OutputWriter:
    """Start writing a 'mask' or 'probability' GeoTIFF; FloodSarError at once if it cannot be written."""
    return OutputWriter(path, grid, kind, io)
