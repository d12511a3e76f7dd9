"""The one entry point of the engine: a Sentinel-1 raster in, a water mask (and friends) out.

The command line and the QGIS plugin both call :func:`predict`. Everything is checked
before any inference (inputs, model, output folders); the raster is never held in
memory: a reader thread prefetches windows into a small bounded queue, the model runs
batch by batch (on the CPU two batches at once; tiles that are entirely nodata never reach
it), and finished rows are written in order as they complete. On a failure, a cancel or
Ctrl-C, no output file is left behind.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import flood, postprocess, report
from .choices import Method
from .errors import CancelledError, FloodSarError, OptionError
from .flood import FloodLayers, Progress
from .formats import GTIFF_OPTIONS
from .grid import RasterGrid, resolution_warning
from .io_choice import choose_io
from .mask_encoding import NODATA
from .metadata import MAX_TILE_SIZE
from .models import Model, load_model
from .otsu import TILE_SIZE as OTSU_TILE_SIZE
from .otsu import TiledOtsu, water_mask
from .outputs import Target
from .prefetch import ordered_map
from .prefetch import prefetched as _prefetched
from .progress import Stages
from .raster_io import RasterIO
from .request import PredictionRequest
from .safe_write import StagedOutputs
from .sentinel1 import Sentinel1Source, open_sentinel1
from .stitching import StripAssembler, crop_core
from .tally import Tally
from .tiling import ColumnBand, Tile, Window, blocks, column_bands, plan_tiles

#: Tiles per batch when the request leaves it open (batch 1 is fastest on CPU).
DEFAULT_BATCH = {"cpu": 1, "cuda": 4}
#: Largest tile side and batch accepted from options or model metadata: memory is tile x tile x batch.
MAX_TILE, MAX_BATCH = MAX_TILE_SIZE, 64
#: Output block height: finished rows are written in whole blocks.
BLOCK_ROWS = int(GTIFF_OPTIONS["BLOCKYSIZE"])
#: Widest column band stitched at once (pixels): row buffers stay this narrow on any raster.
BAND_COLS = 8192

log = logging.getLogger(__name__)
IsCancelled = Optional[Callable[[], bool]]


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
    #: Class map only: area (km2) per class name, and the JSON report when one was asked for.
    class_areas_km2: dict = field(default_factory=dict)
    report: Optional[Path] = None

    @property
    def written(self) -> List[Path]:
        """Every file the run wrote: mask or class map, then probability, polygons and report when asked for."""
        return [path for path in (self.output, self.probabilities, self.vector, self.report) if path]


def _check_cancel(is_cancelled: IsCancelled) -> None:
    if is_cancelled is not None and is_cancelled():
        raise CancelledError()


#: Widest window read at once (pixels): its float32 VV+VH arrays stay under 32 MiB, the largest allocation glibc
#: serves from reused heap memory (whole 8,192 px bands were mapped and faulted in afresh at every read).
READ_COLS = 4000
#: Most tiles one reader item spans: bounds the wait between cancel checks over long runs of empty tiles.
MAX_CHUNK_TILES = 64


@dataclass
class _Chunk:
    """Tiles in plan order; those with data are batched in ``inputs`` (normalised float32 [batch, C, H, W],
    invalid pixels at 0, the mean; None if none has data) with their valid pixels in ``valids``."""

    tiles: List[Tile]
    has_data: List[bool]
    inputs: Optional[np.ndarray]
    valids: List[np.ndarray]

    def trimmed(self) -> "_Chunk":
        """This chunk with ``inputs`` cut to its tiles with data (the model never runs on empty batch slots)."""
        return replace(self, inputs=None if self.inputs is None else self.inputs[:len(self.valids)])


def _read_rows(source: Sentinel1Source, tiles: Sequence[Tile]) -> Iterator[Tuple[Tile, np.ndarray, np.ndarray]]:
    """(tile, dB [bands, h, w], valid [h, w]) in order. Neighbours in a row of tiles, up to READ_COLS wide, are
    read in one window, each tile a view of it: their blocks are decoded at once, on every core, and the blocks
    they share once."""
    group: List[Tile] = []
    for index, tile in enumerate(tiles):
        group.append(tile)
        following = tiles[index + 1].read if index + 1 < len(tiles) else None
        if tile.last_in_row or following is None or following.col + following.width - group[0].read.col > READ_COLS:
            first, last = group[0].read, group[-1].read
            db, valid = source.read_db(first.row, first.col, first.height, last.col + last.width - first.col,
                                       fill=None)
            for member in group:
                cols = slice(member.read.col - first.col, member.read.col - first.col + member.read.width)
                yield member, db[:, :, cols], valid[:, cols]
            group = []


def _read_chunks(source: Sentinel1Source, model: Model, tiles: Sequence[Tile], batch: int) -> Iterator[_Chunk]:
    """Read tiles in order; a chunk ends when ``batch`` tiles with data are gathered, before a tile with data
    of another shape (the last tile row and column are smaller), or after MAX_CHUNK_TILES tiles. Tiles that are
    entirely nodata are never normalised nor given to the model."""
    bands = model.band_indices
    all_bands = list(range(len(source.polarisations)))
    scene = source.scene_statistics().select(bands) if model.metadata.normalisation == "scene" else None
    chunk = _Chunk([], [], None, [])
    for tile, db, valid in _read_rows(source, tiles):
        has_data = bool(valid.any())
        if has_data and chunk.inputs is not None and chunk.inputs.shape[2:] != valid.shape:
            yield chunk.trimmed()
            chunk = _Chunk([], [], None, [])
        chunk.tiles.append(tile)
        chunk.has_data.append(has_data)
        if has_data:
            if chunk.inputs is None:
                chunk.inputs = np.zeros((batch, len(bands), *valid.shape), dtype=np.float32)
            normalised = model.metadata.normalise(db[bands] if bands != all_bands else db, scene,
                                                  out=chunk.inputs[len(chunk.valids)])
            np.copyto(normalised, np.float32(0.0), where=~valid)  # invalid pixels (left as read) at the mean
            chunk.valids.append(valid)
        if len(chunk.valids) == batch or len(chunk.tiles) == MAX_CHUNK_TILES:
            yield chunk.trimmed()
            chunk = _Chunk([], [], None, [])
    if chunk.tiles:
        yield chunk.trimmed()


def _predict_chunk(model: Model) -> Callable[[_Chunk], Optional[np.ndarray]]:
    """The model's probabilities [N, H, W] for a chunk's tiles with data (None if it has none)."""
    return lambda chunk: model.predict(chunk.inputs) if chunk.inputs is not None else None


def _chunk_cores(chunk: _Chunk, probabilities: Optional[np.ndarray]) -> Iterator[Tuple[Tile, np.ndarray]]:
    """(tile, core probability with NaN at nodata) for each tile of ``chunk``, from the model's
    ``probabilities`` for its tiles with data."""
    predicted = iter(probabilities if probabilities is not None else ())
    valids = iter(chunk.valids)
    for tile, has_data in zip(chunk.tiles, chunk.has_data):
        if has_data:
            core = crop_core(tile, next(predicted))  # the model's output: NaN written into it at nodata
            np.copyto(core, np.float32(np.nan), where=~crop_core(tile, next(valids)))
            yield tile, core
        else:
            yield tile, np.full((tile.core.height, tile.core.width), np.nan, dtype=np.float32)


def _read_windows(source: Sentinel1Source, windows: Sequence[Window], band: int
                  ) -> Iterator[Tuple[Window, np.ndarray, np.ndarray]]:
    for window in windows:
        db, valid = source.read_db(window.row, window.col, window.height, window.width)
        yield window, db[band], valid


def _blocks(grid: RasterGrid, size: int) -> List[Window]:
    """Non-overlapping windows of ``size`` pixels covering the raster, row-major."""
    return blocks(grid.height, grid.width, size)


def _tiling(request: PredictionRequest, model: Model) -> Tuple[int, int, int]:
    """(tile, overlap, batch) from the request or the model, within the bounds that keep memory small."""
    metadata = model.metadata
    tile = metadata.tile_size if request.tile is None else request.tile
    overlap = metadata.overlap if request.overlap is None else request.overlap
    batch = request.batch or DEFAULT_BATCH[model.backend.device]
    source = {"tile": "{tile}" if request.tile else f"the model's tile size ({model.path.name})",
              "overlap": "{overlap}" if request.overlap is not None else f"the model's overlap ({model.path.name})"}
    if tile > MAX_TILE:
        raise OptionError("tile", tile, f"{source['tile']} is {tile} pixels, more than FloodSAR's limit of "
                          f"{MAX_TILE} (memory grows with tile x tile x batch)",
                          f"use {{tile={min(metadata.tile_size, MAX_TILE)}}} or less")
    if overlap > tile // 4:
        raise OptionError("overlap", overlap, f"{source['overlap']} is {overlap} pixels, more than a quarter of the "
                          f"{tile} px tile: most of each tile would be thrown away (an overlap of tile/2 - 1 makes a "
                          "run take thousands of times longer)",
                          f"use {{overlap={tile // 4}}} or less, or a larger {{tile}}")
    if batch > MAX_BATCH:
        raise OptionError("batch", batch, f"{{batch={batch}}} is more than FloodSAR's limit of {MAX_BATCH} tiles "
                          "per batch (memory grows with tile x tile x batch)", f"use {{batch={MAX_BATCH}}} or less")
    return tile, overlap, batch


def _run_model(source: Sentinel1Source, model: Model, request: PredictionRequest, io: RasterIO, output: Target,
               probabilities: Optional[Target], progress: Progress, is_cancelled: IsCancelled) -> Tally:
    """Tiles in column bands (row buffers never wider than BAND_COLS), stitched and written as rows complete."""
    metadata = model.metadata
    tile, overlap, batch = _tiling(request, model)
    plan = plan_tiles(source.grid.height, source.grid.width, tile, overlap, metadata.stride,
                      trim_edges=model.backend.device == "cpu")  # on a GPU, tiles of one shape: see tiling.py
    bands = column_bands(plan, BAND_COLS, BLOCK_ROWS)
    band_at = {tile_.core.col: band for band in bands for tile_ in band.tiles}
    tiles = [tile_ for band in bands for tile_ in band.tiles]
    batch = min(batch, len(tiles))  # no batch buffer larger than the raster needs
    threshold = metadata.threshold if request.threshold is None else request.threshold
    log.info("model %s (%s) on %s: %d tiles of %d px, overlap %d px, %d per batch, %d column band(s)",
             metadata.name, model.path, model.description, len(tiles), tile, overlap, batch, len(bands))
    tally = Tally()
    with contextlib.ExitStack() as stack:
        mask_out = stack.enter_context(output.open(source.grid, "mask", io))
        probability_out = stack.enter_context(probabilities.open(source.grid, "probability", io)) if probabilities \
            else None

        def write(band: ColumnBand, chunks: List[Tuple[int, np.ndarray]]) -> None:
            for row, rows in chunks:
                mask = (rows >= threshold).view(np.uint8)  # NaN (nodata) compares False
                np.copyto(mask, NODATA, where=np.isnan(rows))
                mask_out.write(row, band.col, mask)
                if probability_out is not None:
                    probability_out.write(row, band.col, rows)
                tally.add(mask)

        _check_cancel(is_cancelled)
        done, band, assembler = 0, bands[0], StripAssembler(bands[0].width, BLOCK_ROWS, col=bands[0].col)
        with _prefetched(_read_chunks(source, model, tiles, batch)) as reader:
            for chunk, probabilities in ordered_map(_predict_chunk(model), reader, model.streams):
                _check_cancel(is_cancelled)
                for tile_, core in _chunk_cores(chunk, probabilities):
                    if band_at[tile_.core.col] is not band:
                        write(band, assembler.finish())
                        band = band_at[tile_.core.col]
                        assembler = StripAssembler(band.width, BLOCK_ROWS, col=band.col)
                    write(band, assembler.add(tile_, core))
                done += len(chunk.tiles)
                if progress is not None:
                    progress(100.0 * done / len(tiles))
        write(band, assembler.finish())
    return tally


def otsu_polarisation(source: Sentinel1Source) -> str:
    """The band Otsu thresholds: VH when the input has it, else VV."""
    return "VH" if "VH" in source.polarisations else "VV"


def _run_otsu(source: Sentinel1Source, request: PredictionRequest, io: RasterIO, output: Target,
              progress: Progress, is_cancelled: IsCancelled) -> Tuple[Tally, float, Optional[str]]:
    """Pass 1: VH (or VV) histograms of tiles -> scene threshold (unless given); pass 2: threshold block by block."""
    grid = source.grid
    polarisation = otsu_polarisation(source)
    band = source.polarisations.index(polarisation)
    _check_cancel(is_cancelled)
    first_pass = 50.0 if request.threshold is None else 0.0  # share of the progress bar
    if request.threshold is None:
        otsu = TiledOtsu(polarisation)
        windows = _blocks(grid, OTSU_TILE_SIZE)
        with _prefetched(_read_windows(source, windows, band)) as reader:
            for i, (_, vh, valid) in enumerate(reader):
                _check_cancel(is_cancelled)
                otsu.add(vh, valid)
                if progress is not None:
                    progress(first_pass * (i + 1) / len(windows))
        scene = otsu.result()
        threshold_db, warning = scene.threshold_db, scene.warning
    else:
        threshold_db, warning = request.threshold, None
    tally = Tally()
    strips = _blocks(grid, BLOCK_ROWS)
    with output.open(grid, "mask", io) as mask_out, \
            _prefetched(_read_windows(source, strips, band)) as reader:
        for i, (window, vh, valid) in enumerate(reader):
            _check_cancel(is_cancelled)
            mask = water_mask(vh, valid, threshold_db)
            mask_out.write(window.row, window.col, mask)
            tally.add(mask)
            if progress is not None:
                progress(first_pass + (100.0 - first_pass) * (i + 1) / len(strips))
    return tally, threshold_db, warning


def _check_has_data(source: Sentinel1Source) -> None:
    """Refuse an input without a valid pixel before any output is opened (one fast pass at worst)."""
    if not source.has_valid_pixel():
        names = " and ".join(str(p) for p in source.paths)
        raise FloodSarError(f"{names}: contains no valid pixel (all nodata, NaN or zero); "
                            "check the file or choose another scene.")


class _Mapper:
    """The chosen method, ready to map any Sentinel-1 source through ``io`` (the model is loaded once)."""

    def __init__(self, request: PredictionRequest, io: RasterIO, model: Optional[Model] = None) -> None:
        self.request, self.io = request, io
        self.model = (model or load_model(request.model, request.backend, request.device,
                                          trusted_by_user=request.trust_model, precision=request.precision)
                      if request.method == Method.MODEL else None)
        self.thresholds: List[Tuple[str, float]] = []
        self.warnings: List[str] = []

    def run(self, source: Sentinel1Source, output: Target, probabilities: Optional[Target], progress: Progress,
            is_cancelled: IsCancelled, name: str = "") -> Tally:
        """Map water in ``source`` into ``output`` (0/1/255); ``name`` prefixes its warnings."""
        prefix = f"{name}: " if name else ""
        _check_has_data(source)
        self.warnings += [prefix + warning for warning in source.warnings]
        log.info("%sinput: %s", prefix, "; ".join(source.describe().splitlines()))
        if self.model is not None:
            resolution = resolution_warning(source.grid, self.model.metadata.resolution_m)
            self.warnings += [prefix + resolution] if resolution else []
            return _run_model(source, self.model, self.request, self.io, output, probabilities, progress,
                              is_cancelled)
        tally, threshold, warning = _run_otsu(source, self.request, self.io, output, progress, is_cancelled)
        self.warnings += [prefix + warning] if warning else []
        self.thresholds.append((f"{name or 'image'} {otsu_polarisation(source)}", threshold))
        return tally

    @property
    def description(self) -> str:
        if self.model is not None:
            return self.model.description
        thresholds = ", ".join(f"{threshold:.2f} dB ({name})" for name, threshold in self.thresholds)
        how = "Otsu threshold" if self.request.threshold is None else "Given threshold"
        return f"{how} {thresholds} (numpy, cpu)"


def predict(request: PredictionRequest, progress: Progress = None, is_cancelled: IsCancelled = None,
            model: Optional[Model] = None) -> PredictionResult:
    """Map water (or, with ``request.flood``, flood classes) for ``request``. ``progress`` receives
    percentages 0..100; ``is_cancelled`` is polled once per batch (then CancelledError, nothing
    written). FloodSarError on bad input. ``model``: the request's model already loaded (a batch
    worker loads it once per process). All outputs appear together when the whole run succeeded
    (minimum mapping unit, polygons and report included); on any failure none does."""
    started = time.perf_counter()
    output, probabilities, vector = request.check_outputs()
    io = request.io or choose_io()
    if vector is not None:
        io.check_vector_support()
    stages = Stages(progress, request.min_area_m2 > 0, vector is not None)
    classes = request.flood is not None and request.flood.active
    layers: Optional[FloodLayers] = None
    with StagedOutputs() as staged:
        mask_target = Target(output, staged)
        probability_target = Target(probabilities, staged) if probabilities else None
        with open_sentinel1(request.inputs, vv_band=request.vv_band, vh_band=request.vh_band,
                            units=request.units, io=io, dem=request.flood.dem if request.flood else None,
                            single_polarisation=request.method == Method.OTSU) as source:
            if request.extent is not None:
                source.crop(request.extent)
            pixels = postprocess.minimum_pixels(source.grid, request.min_area_m2)  # an impossible unit fails now
            mapper = _Mapper(request, io, model)
            if classes:
                tally = Tally()
                layers = flood.map_flood(request, mapper, source, mask_target, probability_target, tally.add,
                                         stages.mapping, is_cancelled)
            else:
                tally = mapper.run(source, mask_target, probability_target, stages.mapping, is_cancelled)
            grid = source.grid
        warnings = mapper.warnings + (layers.warnings() if layers else [])
        if pixels > 1:
            sieved = Tally()
            postprocess.sieve_mask(staged.current(output), staged.temporary(output), output, grid, pixels, io,
                                   "classes" if classes else "mask", sieved.add)
            tally = sieved
            stages.done()
        polygons = None
        if vector:
            polygons = postprocess.polygonize(staged.current(output), staged.temporary(vector), vector, io, classes)
            stages.done()
        water_km2, valid_km2 = tally.km2(grid)
        if math.isnan(water_km2):
            warnings.append("The CRS units are unknown, so areas could not be computed.")
        result = PredictionResult(output=output, probabilities=probabilities, vector=vector,
                                  water_area_km2=water_km2, valid_area_km2=valid_km2,
                                  seconds=time.perf_counter() - started, backend=mapper.description,
                                  warnings=warnings,
                                  threshold_db=mapper.thresholds[0][1] if mapper.thresholds else None,
                                  polygons=polygons, class_areas_km2=tally.class_km2(grid) if classes else {})
        if request.report is not None:
            result.report = Path(request.report)
            report.write_report(staged.temporary(result.report), request, result, layers, io)
    log.info("written: %s", ", ".join(str(path) for path in result.written))
    return result
