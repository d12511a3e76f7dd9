"""Flood, not just water: the class map made from the water masks and the other layers.

Classes (uint8, :mod:`.mask_encoding`): 0 dry, 1 flood, 2 reference water, 3 excluded,
255 no data. Per pixel, the first rule that applies:

- 3 excluded (product): the post-flood product marks the pixel unusable (a HyP3 layover/shadow map);
  its values there are read as no data;
- 255 no data: the post-flood image has no data there;
- 3 excluded: HAND above the threshold, slope above the threshold, inside an ``--exclude``
  mask (non-zero raster pixels) or polygon;
- 2 reference water: water in the pre-flood image, or water in the reference water layer;
- 1 flood: water in the post-flood image;
- 0 dry.

Where the pre-flood image has no data but the post-flood image has, the pixel is decided from the
post-flood image alone (water there is flood unless the reference layer says water); these pixels
are counted (``pre_missing``). Where the reference layer has no data (outside it, or its own
nodata), the pixel is not reference water; the uncovered share of the scene is counted and warned
about. Where HAND or the DEM has no data, the pixel is not excluded.

Reference water rasters: JRC Global Surface Water occurrence (0-100 %: water where >= 50, values
over 100 are no data), seasonality (0-12 months: water where >= 10, as UN-SPIDER's permanent water;
over 12 no data), or any mask (water where >= 1, e.g. 0/1 or 0/255). ``reference_threshold``
changes the rule to "water where value >= threshold". The kind is read from the file or folder
name ("occurrence", "seasonality"), else a mask is assumed when the layer holds only 0, 1 (and
255); anything else needs ``reference_kind``. Vector layers: inside a polygon is water.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from . import ancillary, outputs, terrain
from .choices import Method
from .errors import CancelledError, FloodSarError, OptionError
from .formats import GTIFF_OPTIONS
from .grid import RasterGrid
from .mask_encoding import DRY, EXCLUDED, FLOOD, NODATA, REFERENCE_WATER, WATER
from .raster_io import RasterIO
from .safe_write import StagedOutputs
from .sentinel1 import Sentinel1Source, open_sentinel1
from .tiling import Window, blocks

PathLike = Union[str, Path]
Progress = Optional[Callable[[float], None]]
REFERENCE_KINDS = ("auto", "mask", "occurrence", "seasonality")
#: kind: (default threshold "water where value >= it", largest valid value or None)
REFERENCE_RULES = {"mask": (1.0, None), "occurrence": (50.0, 100.0), "seasonality": (10.0, 12.0)}


@dataclass
class FloodOptions:
    """What turns a water mask into a flood class map; all optional."""

    pre: Sequence[PathLike] = ()
    reference_water: Optional[PathLike] = None
    reference_kind: str = "auto"
    reference_threshold: Optional[float] = None
    hand: Optional[PathLike] = None
    dem: Optional[PathLike] = None
    exclude: Sequence[PathLike] = ()
    hand_max_m: float = terrain.HAND_MAX_M
    slope_max_deg: float = terrain.SLOPE_MAX_DEG

    @property
    def paths(self) -> list[PathLike]:
        """Every file these options read."""
        return [*self.pre, *(p for p in (self.reference_water, self.hand, self.dem) if p), *self.exclude]

    @property
    def active(self) -> bool:
        """Whether any option asks for a class map."""
        return bool(self.pre or self.reference_water or self.hand or self.dem or self.exclude)

    def check(self) -> None:
        if self.reference_kind not in REFERENCE_KINDS:
            raise FloodSarError(f"unknown reference water kind {self.reference_kind!r}; "
                                f"use one of {', '.join(REFERENCE_KINDS)}.")
        terrain.check_thresholds(self.hand_max_m, self.slope_max_deg)


@dataclass
class ReferenceRule:
    """How a reference layer's values become water: kind, threshold, and why."""

    kind: str
    threshold: float
    reason: str

    def water(self, values: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(water, covered) after the rule (values above the kind's range count as no data)."""
        largest = REFERENCE_RULES.get(self.kind, (None, None))[1]
        if largest is not None:
            covered = covered & (values <= largest)
        return covered & (values >= self.threshold), covered

    def describe(self) -> str:
        return f"{self.kind}: water where value >= {self.threshold:g} ({self.reason})"


def _name_kind(path: Path) -> Optional[str]:
    words = set(re.split(r"[^a-z]+", f"{path.parent.name} {path.stem}".lower()))
    found = [kind for kind in ("occurrence", "seasonality") if kind in words]
    return found[0] if len(found) == 1 else None


def reference_rule(layer: ancillary.Layer, kind: str, threshold: Optional[float]) -> ReferenceRule:
    """The rule for a reference water layer: the user's kind/threshold, else detected (see module doc)."""
    if layer.is_vector:
        return ReferenceRule("polygons", 1.0, "inside a polygon")
    reason = "set by the user"
    if kind == "auto":
        kind = _name_kind(layer.path) or ""
        reason = f"from the name {layer.path.name}" if kind else ""
    if not kind:
        values = np.unique(layer.sample())
        if not set(values.tolist()) <= {0.0, 1.0, 255.0}:
            raise OptionError("reference_kind", "auto", "cannot tell whether this reference water layer is JRC "
                              "occurrence (0-100), seasonality (0-12 months) or a 0/1 mask",
                              "pass {reference_kind=occurrence}, {reference_kind=seasonality} or {reference_kind=mask}",
                              layer.path)
        kind, reason = "mask", "it holds only 0 and 1 (and 255)"
    if threshold is not None:
        return ReferenceRule(kind, float(threshold), f"{reason}; threshold set by the user")
    return ReferenceRule(kind, REFERENCE_RULES[kind][0], f"{reason}; default threshold")


@dataclass
class FloodCounts:
    """Pixels counted while classifying: post valid but no pre data, post valid but no reference data."""

    pre_missing: int = 0
    reference_uncovered: int = 0
    valid: int = 0


class FloodLayers:
    """The reference, terrain and exclusion layers of a run, opened on the post-flood grid."""

    def __init__(self, options: FloodOptions, grid: RasterGrid, io: RasterIO,
                 product_exclusion: Optional[Callable[[int, int, int, int], Optional[np.ndarray]]] = None) -> None:
        """``product_exclusion(row, col, height, width)``: where the post-flood product marks pixels unusable
        (:meth:`.Sentinel1Source.excluded`)."""
        options.check()
        self.options, self.grid, self.counts = options, grid, FloodCounts()
        self._stack = contextlib.ExitStack()
        try:
            def layer(path: Optional[PathLike], role: str, resampling: str = "nearest",
                      margin: int = 0) -> Optional[ancillary.Layer]:
                if not path:
                    return None
                opened = ancillary.Layer(path, grid, role, resampling, margin, io)
                self._stack.callback(opened.close)
                return opened

            self.reference = layer(options.reference_water, "reference water layer")
            self.rule = (reference_rule(self.reference, options.reference_kind, options.reference_threshold)
                         if self.reference else None)
            self.hand = layer(options.hand, "HAND layer", "bilinear")
            self.dem = layer(options.dem, "DEM", "bilinear", terrain.SLOPE_MARGIN)
            self.exclude = [layer(path, "exclusion mask") for path in options.exclude]
            self.product_exclusion = product_exclusion
        except BaseException:
            self._stack.close()
            raise

    def excluded(self, window: Window) -> np.ndarray:
        """Where terrain or masks exclude flood water in ``window``."""
        out = np.zeros((window.height, window.width), dtype=bool)
        if self.hand is not None:
            hand, covered = self.hand.read(window)
            out |= covered & (hand > self.options.hand_max_m)
        if self.dem is not None:
            dem, _ = self.dem.read(window)
            with np.errstate(invalid="ignore"):
                out |= terrain.slope_degrees(dem, self.grid, window) > self.options.slope_max_deg
        for mask in self.exclude:
            values, covered = mask.read(window)
            out |= covered & (values != 0)
        return out

    def classify(self, window: Window, post: np.ndarray, pre: Optional[np.ndarray]) -> np.ndarray:
        """The class map of ``window`` from the post (and pre) water masks (0/1/255)."""
        valid = post != NODATA
        reference = np.zeros(post.shape, dtype=bool)
        if pre is not None:
            reference |= pre == WATER
            self.counts.pre_missing += int(np.count_nonzero(valid & (pre == NODATA)))
        if self.reference is not None:
            water, covered = self.rule.water(*self.reference.read(window))
            reference |= water
            self.counts.reference_uncovered += int(np.count_nonzero(valid & ~covered))
        self.counts.valid += int(np.count_nonzero(valid))
        classes = np.where(post == WATER, FLOOD, DRY).astype(np.uint8)
        classes[reference] = REFERENCE_WATER
        classes[self.excluded(window)] = EXCLUDED
        classes[~valid] = NODATA
        marked = (self.product_exclusion(window.row, window.col, window.height, window.width)
                  if self.product_exclusion is not None else None)
        if marked is not None:
            classes[marked] = EXCLUDED
        return classes

    def warnings(self) -> list[str]:
        """Sentences about what the layers could not decide (after the classification pass)."""
        notes = []
        valid = max(self.counts.valid, 1)
        if self.reference is not None and self.counts.reference_uncovered:
            share = self.counts.reference_uncovered / valid
            notes.append(f"{self.reference.path}: the reference water layer has no data on {share:.1%} of the "
                         "scene's valid area; water there counts as flood unless the pre-flood image shows it.")
        if self.counts.pre_missing:
            share = self.counts.pre_missing / valid
            notes.append(f"The pre-flood image has no data on {share:.1%} of the scene's valid area; those pixels "
                         "were decided from the post-flood image alone (water there counts as flood unless the "
                         "reference layer marks it).")
        return notes

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "FloodLayers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_class_map(layers: FloodLayers, post_mask: Path, pre_mask: Optional[Path], output: outputs.Target,
                    io: RasterIO, on_block: Optional[Callable[[np.ndarray], None]] = None) -> None:
    """Classify the finished water masks strip by strip into ``output``.

    ``on_block`` receives each written block (for counting, progress and cancelling).
    """
    windows = blocks(layers.grid.height, layers.grid.width, int(GTIFF_OPTIONS["BLOCKYSIZE"]))
    with contextlib.ExitStack() as stack:
        post = stack.enter_context(io.open_raster(post_mask))
        pre = stack.enter_context(io.open_raster(pre_mask)) if pre_mask else None
        out = stack.enter_context(output.open(layers.grid, "classes", io))
        for window in windows:
            shape = (window.row, window.col, window.height, window.width)
            post_block = post.read_window([1], *shape)[0].astype(np.uint8)
            pre_block = pre.read_window([1], *shape)[0].astype(np.uint8) if pre else None
            classes = layers.classify(window, post_block, pre_block)
            out.write(window.row, window.col, classes)
            if on_block is not None:
                on_block(classes)


@contextlib.contextmanager
def _scratch(beside: Path) -> Iterator[Path]:
    """A temporary raster path in a private folder beside ``beside``, deleted afterwards (never renamed)."""
    staged = StagedOutputs()
    try:
        yield staged.temporary(beside)
    finally:
        staged.discard()


def _part(progress: Progress, start: float, end: float) -> Progress:
    """Progress of one step, mapped onto ``start``..``end`` of the whole run."""
    if progress is None:
        return None
    return lambda percent: progress(start + (end - start) * percent / 100.0)


def map_flood(request: Any, mapper: Any, source: Sentinel1Source, output: outputs.Target,
              probabilities: Optional[outputs.Target],
              on_block: Callable[[np.ndarray], None], progress: Progress = None,
              is_cancelled: Optional[Callable[[], bool]] = None) -> FloodLayers:
    """The class map of a :class:`~.pipeline.PredictionRequest` with ``flood`` options into ``output``.

    ``mapper.run(source, path, probabilities, progress, is_cancelled, name)`` writes a water mask with
    the chosen method: the post image's, then the pre image's (read on the post grid) go to scratch
    files beside ``output``, then both are classified strip by strip. Returns the (closed) layers,
    whose counts and warnings describe the run.
    """
    options = request.flood
    with FloodLayers(options, source.grid, mapper.io, source.excluded) as layers, \
            _scratch(output.path) as post_mask, _scratch(output.path) as pre_mask, contextlib.ExitStack() as stack:
        pre_source = stack.enter_context(open_sentinel1(
            options.pre, vv_band=request.vv_band, vh_band=request.vh_band, units=request.units, io=mapper.io,
            single_polarisation=request.method == Method.OTSU, align_to=source.grid,
            role="pre-flood image")) if options.pre else None  # checked before any mapping
        mapped = 45.0 if options.pre else 90.0
        mapper.run(source, outputs.Target(post_mask), probabilities, _part(progress, 0, mapped), is_cancelled,
                   "post-flood image" if options.pre else "")
        if pre_source is not None:
            mapper.run(pre_source, outputs.Target(pre_mask), None, _part(progress, 45, 90), is_cancelled,
                       "pre-flood image")
        done = [0]

        def block_done(classes: np.ndarray) -> None:
            if is_cancelled is not None and is_cancelled():
                raise CancelledError()
            on_block(classes)
            done[0] += classes.size
            if progress is not None:
                progress(90.0 + 10.0 * done[0] / (source.grid.width * source.grid.height))

        write_class_map(layers, post_mask, pre_mask if options.pre else None, output, mapper.io, block_done)
    return layers
