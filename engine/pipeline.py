"""The one entry point of the engine: a Sentinel-1 raster in, a water mask (and friends) out.

The command line and the QGIS plugin both call :func:`predict`. Everything is checked
before any inference (inputs, model, output folders); the raster is never held in
memory: a reader thread prefetches windows into a small bounded queue, the model runs
batch by batch, and finished rows are written as they complete. On a failure, a cancel
or Ctrl-C, no output file is left behind.
"""
from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import outputs, postprocess, raster_io
from .backends import BACKENDS, check_device
from .errors import CancelledError, FloodSarError
from .models import Model, load_model
from .otsu import TILE_SIZE as OTSU_TILE_SIZE
from .otsu import TiledOtsu, water_mask
from .sentinel1 import Sentinel1Source, open_sentinel1
from .stitching import StripAssembler, crop_core
from .tiling import Tile, Window, plan_tiles

METHODS = ("model", "otsu")
#: Tiles per batch when the request leaves it open (batch 1 is fastest on CPU).
DEFAULT_BATCH = {"cpu": 1, "cuda": 4}
#: Batches (or windows) the reader thread may read ahead of the model.
PREFETCH = 2
#: Output block height: finished rows are written in whole blocks.
BLOCK_ROWS = int(raster_io.GTIFF_OPTIONS["BLOCKYSIZE"])
RASTER_SUFFIXES = (".tif", ".tiff")

PathLike = Union[str, Path]
Progress = Optional[Callable[[float], None]]
IsCancelled = Optional[Callable[[], bool]]


@dataclass
class PredictionRequest:
    """What to map and how. ``None`` for model/tile/overlap/batch means the defaults."""

    inputs: Sequence[PathLike]
    output: PathLike
    method: str = "model"
    model: Optional[PathLike] = None
    backend: str = "onnx"
    device: str = "auto"
    tile: Optional[int] = None
    overlap: Optional[int] = None
    batch: Optional[int] = None
    probabilities: Optional[PathLike] = None
    vector: Optional[PathLike] = None
    min_area_m2: float = 0.0
    vv_band: Optional[int] = None
    vh_band: Optional[int] = None
    units: str = "auto"
    io: str = "auto"


@dataclass
class PredictionResult:
    """What was written and what was found."""

    output: Path
    probabilities: Optional[Path]
    vector: Optional[Path]
    water_area_km2: float
    valid_area_km2: float
    seconds: float
    backend: str
    warnings: List[str] = field(default_factory=list)
    threshold_db: Optional[float] = None
    polygons: Optional[int] = None


class _Tally:
    """Water and valid pixel counts of the written mask."""

    def __init__(self) -> None:
        self.water = 0
        self.valid = 0

    def add(self, mask: np.ndarray) -> None:
        self.water += int(np.count_nonzero(mask == raster_io.WATER))
        self.valid += int(np.count_nonzero(mask != raster_io.NODATA))

    def km2(self, grid: raster_io.RasterGrid) -> Tuple[float, float]:
        """(water, valid) areas in km2 from the pixel size at the raster centre (NaN if unknown)."""
        size = grid.pixel_size_m
        pixel_km2 = float("nan") if size is None else size * size / 1e6
        return self.water * pixel_km2, self.valid * pixel_km2


class _Prefetcher:
    """Runs an iterator in a reader thread, at most ``size`` items ahead; re-raises its errors."""

    _DONE = object()

    def __init__(self, items: Iterable[Any], size: int = PREFETCH) -> None:
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="floodsar-reader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer thread
            self._put((self._DONE, exc))
            return
        self._put((self._DONE, None))

    def __iter__(self) -> Iterator[Any]:
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is self._DONE:
                return
            yield item

    def close(self) -> None:
        """Stop the reader and wait for it (it finishes at most one window read)."""
        self._stop.set()
        self._thread.join()


def _check_cancel(is_cancelled: IsCancelled) -> None:
    if is_cancelled is not None and is_cancelled():
        raise CancelledError()


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_request(request: PredictionRequest) -> Tuple[Path, Optional[Path], Optional[Path]]:
    """Validate the options and output paths; returns (output, probabilities, vector) as Paths."""
    if request.method not in METHODS:
        raise FloodSarError(f"unknown method {request.method!r}; use --method model or otsu.")
    if request.backend not in BACKENDS:
        raise FloodSarError(f"unknown backend {request.backend!r}; use --backend onnx or torch.")
    check_device(request.device)
    raster_io.resolve_io(request.io)
    for name, value, least in (("tile", request.tile, 1), ("overlap", request.overlap, 0),
                               ("batch", request.batch, 1)):
        if value is not None and (not isinstance(value, int) or value < least):
            raise FloodSarError(f"--{name} must be a whole number of at least {least}, not {value!r}.")
    if not request.min_area_m2 >= 0:
        raise FloodSarError(f"--min-area must be 0 or more square metres, not {request.min_area_m2}.")
    if request.method == "otsu" and request.probabilities:
        raise FloodSarError("--probabilities needs --method model: Otsu thresholding gives no probability.")
    output = Path(request.output)
    probabilities = Path(request.probabilities) if request.probabilities else None
    vector = Path(request.vector) if request.vector else None
    for path, suffixes, option in ((output, RASTER_SUFFIXES, "-o/--output"),
                                   (probabilities, RASTER_SUFFIXES, "--probabilities"),
                                   (vector, (".gpkg",), "--vector")):
        if path is None:
            continue
        if path.suffix.lower() not in suffixes:
            raise FloodSarError(f"{path}: {option} must end in {' or '.join(suffixes)} "
                                f"(FloodSAR writes {'a GeoPackage' if option == '--vector' else 'GeoTIFF'}).")
        raster_io.check_writable(path)
        for source in request.inputs:
            if Path(source).exists() and _same_file(path, Path(source)):
                raise FloodSarError(f"{path}: {option} would overwrite the input; choose another output name.")
    written = [p for p in (output, probabilities, vector) if p is not None]
    if len({p.resolve() for p in written}) < len(written):
        raise FloodSarError(f"{output}: the outputs must be different files; give each its own name.")
    return output, probabilities, vector


def _read_batches(source: Sentinel1Source, model: Model, tiles: Sequence[Tile], batch: int
                  ) -> Iterator[Tuple[Sequence[Tile], np.ndarray, np.ndarray]]:
    """(tiles, normalised float32 [batch, C, H, W] with invalid pixels at 0 (the mean), valid [n, H, W])."""
    bands = model.band_indices
    first = tiles[0].read
    for start in range(0, len(tiles), batch):
        chunk = tiles[start:start + batch]
        inputs = np.zeros((batch, len(bands), first.height, first.width), dtype=np.float32)
        valids = np.zeros((len(chunk), first.height, first.width), dtype=bool)
        for i, tile in enumerate(chunk):
            window = tile.read
            db, valid = source.read_db(window.row, window.col, window.height, window.width)
            normalised = model.metadata.normalise(db[bands])
            normalised[:, ~valid] = 0.0
            inputs[i], valids[i] = normalised, valid
        yield chunk, inputs, valids


def _read_windows(source: Sentinel1Source, windows: Sequence[Window]
                  ) -> Iterator[Tuple[Window, np.ndarray, np.ndarray]]:
    for window in windows:
        db, valid = source.read_db(window.row, window.col, window.height, window.width)
        yield window, db[1], valid


@contextlib.contextmanager
def _prefetched(items: Iterable[Any]) -> Iterator[_Prefetcher]:
    reader = _Prefetcher(items)
    try:
        yield reader
    finally:
        reader.close()


def _blocks(grid: raster_io.RasterGrid, size: int) -> List[Window]:
    """Non-overlapping windows of ``size`` pixels covering the raster, row-major."""
    return [tile.core for tile in plan_tiles(grid.height, grid.width, size, 0)]


def _run_model(source: Sentinel1Source, model: Model, request: PredictionRequest, output: Path,
               probabilities: Optional[Path], progress: Progress, is_cancelled: IsCancelled) -> _Tally:
    metadata = model.metadata
    tile = metadata.tile_size if request.tile is None else request.tile
    overlap = metadata.overlap if request.overlap is None else request.overlap
    plan = plan_tiles(source.grid.height, source.grid.width, tile, overlap, metadata.stride)
    tiles = list(plan)
    batch = request.batch or DEFAULT_BATCH[model.backend.device]
    tally = _Tally()
    assembler = StripAssembler(source.grid.width, BLOCK_ROWS)
    with contextlib.ExitStack() as stack:
        mask_out = stack.enter_context(outputs.open_output(output, source.grid, "mask", request.io))
        probability_out = (stack.enter_context(outputs.open_output(probabilities, source.grid, "probability",
                                                                   request.io)) if probabilities else None)

        def write(row: int, rows: np.ndarray) -> None:
            valid = ~np.isnan(rows)
            mask = np.where(valid, (rows >= metadata.threshold).astype(np.uint8), raster_io.NODATA)
            mask_out.write(row, 0, mask.astype(np.uint8))
            if probability_out is not None:
                probability_out.write(row, 0, rows)
            tally.add(mask)

        _check_cancel(is_cancelled)
        done = 0
        with _prefetched(_read_batches(source, model, tiles, batch)) as reader:
            for chunk, inputs, valids in reader:
                _check_cancel(is_cancelled)
                predicted = model.predict(inputs)
                for tile_, probability, valid in zip(chunk, predicted, valids):
                    core = np.where(crop_core(tile_, valid), crop_core(tile_, probability), np.nan)
                    for row, rows in assembler.add(tile_, core):
                        write(row, rows)
                done += len(chunk)
                if progress is not None:
                    progress(100.0 * done / len(tiles))
        for row, rows in assembler.finish():
            write(row, rows)
        _check_has_data(tally, source)
    return tally


def _run_otsu(source: Sentinel1Source, request: PredictionRequest, output: Path, progress: Progress,
              is_cancelled: IsCancelled) -> Tuple[_Tally, float, Optional[str]]:
    """Pass 1: VH histograms of tiles -> scene threshold; pass 2: threshold block by block."""
    grid = source.grid
    otsu = TiledOtsu()
    windows = _blocks(grid, OTSU_TILE_SIZE)
    _check_cancel(is_cancelled)
    with _prefetched(_read_windows(source, windows)) as reader:
        for i, (_, vh, valid) in enumerate(reader):
            _check_cancel(is_cancelled)
            otsu.add(vh, valid)
            if progress is not None:
                progress(50.0 * (i + 1) / len(windows))
    if otsu.valid_pixels == 0:
        _check_has_data(_Tally(), source)
    scene = otsu.result()
    tally = _Tally()
    blocks = _blocks(grid, BLOCK_ROWS)
    with outputs.open_output(output, grid, "mask", request.io) as mask_out, \
            _prefetched(_read_windows(source, blocks)) as reader:
        for i, (window, vh, valid) in enumerate(reader):
            _check_cancel(is_cancelled)
            mask = water_mask(vh, valid, scene.threshold_db)
            mask_out.write(window.row, window.col, mask)
            tally.add(mask)
            if progress is not None:
                progress(50.0 + 50.0 * (i + 1) / len(blocks))
    return tally, scene.threshold_db, scene.warning


def _check_has_data(tally: _Tally, source: Sentinel1Source) -> None:
    if tally.valid == 0:
        names = " and ".join(str(p) for p in source.paths)
        raise FloodSarError(f"{names}: contains no valid pixel (all nodata, NaN or zero); "
                            "check the file or choose another scene.")


def _count_mask(path: Path, io: str) -> _Tally:
    """Recount a finished mask window by window (after the minimum mapping unit changed it)."""
    tally = _Tally()
    with raster_io.open_raster(path, io) as mask:
        for window in _blocks(mask.grid, BLOCK_ROWS):
            block = mask.read_window([1], window.row, window.col, window.height, window.width)[0]
            tally.add(block)
    return tally


def predict(request: PredictionRequest, progress: Progress = None, is_cancelled: IsCancelled = None,
            model: Optional[Model] = None) -> PredictionResult:
    """Map water for ``request``. ``progress`` receives percentages 0..100; ``is_cancelled`` is
    polled once per batch (then CancelledError, nothing written). FloodSarError on bad input.
    ``model``: the request's model already loaded (a batch worker loads it once per process)."""
    started = time.perf_counter()
    output, probabilities, vector = _check_request(request)
    with open_sentinel1(request.inputs, vv_band=request.vv_band, vh_band=request.vh_band,
                        units=request.units, io=request.io) as source:
        warnings = list(source.warnings)
        threshold_db: Optional[float] = None
        if request.method == "model":
            model = model or load_model(request.model, request.backend, request.device)
            resolution = raster_io.resolution_warning(source.grid, model.metadata.resolution_m)
            warnings += [resolution] if resolution else []
            tally = _run_model(source, model, request, output, probabilities, progress, is_cancelled)
            backend = model.description
        else:
            tally, threshold_db, warning = _run_otsu(source, request, output, progress, is_cancelled)
            warnings += [warning] if warning else []
            backend = f"Otsu threshold {threshold_db:.2f} dB on VH (numpy, cpu)"
        grid = source.grid
    if request.min_area_m2 > 0:
        postprocess.apply_minimum_mapping_unit(output, request.min_area_m2, request.io)
        tally = _count_mask(output, request.io)
    polygons = postprocess.write_water_polygons(output, vector, request.io) if vector else None
    water_km2, valid_km2 = tally.km2(grid)
    if math.isnan(water_km2):
        warnings.append("The CRS units are unknown, so areas could not be computed.")
    return PredictionResult(output=output, probabilities=probabilities, vector=vector, water_area_km2=water_km2,
                            valid_area_km2=valid_km2, seconds=time.perf_counter() - started, backend=backend,
                            warnings=warnings, threshold_db=threshold_db, polygons=polygons)
