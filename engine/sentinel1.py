"""Sentinel-1 input: find VV and VH, detect dB or linear power, and mark nodata.

Accepted inputs: one multi-band file holding VV and VH (Sen1Floods11, Earth Engine
exports), or two single-band files given VV first, VH second (ASF / Copernicus
products, DrivenData chips); with ``single_polarisation=True`` (the Otsu method) also one
VV-only or VH-only band. Nodata is every pixel that is NaN or +-inf, equals a
band's flagged nodata value, is exactly 0 in both bands (unflagged zero borders),
or (linear input) is not positive.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from . import ancillary
from .choices import Method, Units
from .errors import FloodSarError, OptionError
from .grid import RasterGrid, resolution_warning
from .io_choice import choose_io
from .polarisation import POLARISATIONS, polarisation
from .raster_io import RasterFile, RasterIO, file_name, file_stem
from .scene_statistics import SceneStatistics, sample
from .tiling import blocks

if TYPE_CHECKING:
    from .products.product import Product

#: Median VH above this cannot be linear power of a normal scene (-13 dB) but is typical of amplitude (-26 dB).
AMPLITUDE_VH_MEDIAN = 0.05
UNITS_DESCRIPTIONS = {Units.DB: "dB", Units.LINEAR: "linear power (converted to dB)",
                      Units.AMPLITUDE: "linear amplitude (converted to dB)"}
#: How a band is labelled when a 2-band file without band descriptions is read in Sen1Floods11 order.
ASSUMED_ORDER = " (assumed: Sen1Floods11 order band 1 = VV, band 2 = VH)"
#: VH brighter than VV by more than this (median dB) suggests the assumed band order is swapped.
SWAP_MARGIN_DB = 2.0
#: Side of the blocks read when looking for a valid pixel the sample missed (8 MB of float32 VV+VH).
SCAN_BLOCK = 1024


class Sentinel1Source:
    """VV and VH (or one of them) of a Sentinel-1 input, read window by window in dB with a validity mask.

    ``polarisations`` names the bands :meth:`read_db` returns, in order: ("VV", "VH") unless the
    input is single-polarisation. :meth:`excluded` gives the pixels a product marks unusable (layover,
    shadow), which become the flood map's excluded class.
    """

    def __init__(self, files: Sequence[RasterFile], bands: Sequence[tuple[int, int]],
                 band_names: tuple[str, ...], units: Units, polarisations: tuple[str, ...] = POLARISATIONS,
                 product: "Product | None" = None) -> None:
        self._files = list(files)
        self._bands = list(bands)  # (file index, 1-based band) per polarisation
        self.polarisations = polarisations
        self._lock = threading.Lock()
        self.grid: RasterGrid = self._files[0].grid
        self._origin = (0, 0)  # (row, col) of self.grid in the files, moved by crop()
        self.paths = tuple(f.path for f in self._files)
        self.band_names = band_names
        self.product = product
        self.warnings: list[str] = list(product.warnings) if product else []
        assumed = band_names[0].endswith(ASSUMED_ORDER)
        sample = self._sample() if (units == "auto" and not (product and product.units)) or assumed else None
        if product is not None and product.units:
            self.units, self.units_reason = Units(product.units), product.units_reason
        elif units == Units.AUTO:
            self.units, self.units_reason = self._detect_units(sample)
        else:
            self.units, self.units_reason = units, "set by the user"
        if assumed:
            self._check_band_order(sample)
        self._raw_sample = sample  # reused by has_valid_pixel and the scene statistics (None: not sampled yet)

    def _read_raw(self, row_off: int, col_off: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw values [2, h, w] and validity before any unit conversion."""
        row_off, col_off = row_off + self._origin[0], col_off + self._origin[1]
        with self._lock:
            if len(self._files) == 1:  # every band in one read (one decode of each block)
                stack = self._files[0].read_window([band for _, band in self._bands], row_off, col_off, height, width)
            else:
                stack = np.stack([self._files[file_index].read_window([band], row_off, col_off, height, width)[0]
                                  for file_index, band in self._bands])
        valid = np.isfinite(stack).all(axis=0)
        valid &= (stack != 0).any(axis=0)
        for plane, (file_index, band) in zip(stack, self._bands):
            nodata = self._files[file_index].nodata[band - 1]
            if nodata is not None and np.isfinite(nodata):
                valid &= plane != np.float32(nodata)
        return stack, valid

    def _read_valid(self, row_off: int, col_off: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw values [bands, h, w] and the valid pixels, linear values <= 0 excluded (no conversion yet)."""
        stack, valid = self._read_raw(row_off, col_off, height, width)
        if self.units in (Units.LINEAR, Units.AMPLITUDE):
            valid &= (stack > 0).all(axis=0)
        return stack, valid

    def read_db(self, row_off: int, col_off: int, height: int, width: int,
                fill: float | None = np.nan) -> tuple[np.ndarray, np.ndarray]:
        """Boundless window read: (float32 [bands, h, w] dB in :attr:`polarisations` order, bool [h, w] valid).

        Pixels outside the raster or without valid data are invalid and hold ``fill``
        (NaN by default; None leaves whatever was read there, for a caller that overwrites them).
        Thread-safe.
        """
        stack, valid = self._read_valid(row_off, col_off, height, width)
        if self.units in (Units.LINEAR, Units.AMPLITUDE):
            with np.errstate(divide="ignore", invalid="ignore"):
                stack = (10 if self.units == "linear" else 20) * np.log10(stack)
        if fill is not None:
            np.copyto(stack, np.float32(fill), where=~valid)
        return stack.astype(np.float32, copy=False), valid

    def excluded(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray | None:
        """Where the product marks a window's pixels unusable (bool [h, w]), or None when it marks none."""
        if self.product is None or self.product.exclusion is None:
            return None
        with self._lock:
            return self.product.exclusion(row_off + self._origin[0], col_off + self._origin[1], height, width)

    def _sample(self) -> np.ndarray:
        """Valid raw values [2, N] from a bounded grid of windows spread over the raster."""
        def read(row: int, col: int, height: int, width: int) -> np.ndarray:
            stack, valid = self._read_raw(row, col, height, width)
            return stack[:, valid]

        return sample(read, self.grid.height, self.grid.width)

    def _valid_db(self, values: np.ndarray) -> np.ndarray:
        """Sampled raw values [bands, N] in dB, without those the units make invalid (linear <= 0)."""
        if self.units in ("linear", "amplitude"):
            values = values[:, (values > 0).all(axis=0)]
            values = (10 if self.units == "linear" else 20) * np.log10(values)
        return values

    def has_valid_pixel(self) -> bool:
        """Whether any pixel is valid: true at once when the units sample found one, else read block by
        block up to the first valid pixel (an input that is all nodata costs one fast pass, no output)."""
        if self._raw_sample is not None and self._valid_db(self._raw_sample).shape[1]:
            return True
        return any(self._read_valid(w.row, w.col, w.height, w.width)[1].any()
                   for w in blocks(self.grid.height, self.grid.width, SCAN_BLOCK))

    def scene_statistics(self) -> SceneStatistics:
        """VV, VH statistics in dB of the bounded sample (for models normalised per scene)."""
        if self._raw_sample is None:
            self._raw_sample = self._sample()
        values = self._valid_db(self._raw_sample)
        if values.shape[1] == 0:
            raise FloodSarError(f"{' and '.join(str(p) for p in self.paths)}: no valid pixel found in a sample "
                                "of the raster, so it cannot be normalised for the model; check its nodata.")
        return SceneStatistics.from_values(values)

    def _detect_units(self, sample: np.ndarray) -> tuple[str, str]:
        """'db' or 'linear' from the sampled values [bands, N], with the reason in words."""
        values = sample
        if values.size == 0:
            self.warnings.append("No valid pixels found in a sample of the raster; assuming dB. "
                                 "The input may contain no data.")
            return Units.DB, "assumed (no valid pixels sampled)"
        negative = float(np.mean(values < 0))
        median = float(np.median(values))
        if negative >= 0.5 and -60 < median < 10:
            return Units.DB, f"detected: {negative:.0%} of sampled values negative, median {median:.1f}"
        if negative <= 0.01 and 0 < median < 1:
            vh_median = float(np.median(values[self.polarisations.index("VH")])) if "VH" in self.polarisations else 0
            if vh_median > AMPLITUDE_VH_MEDIAN:
                self.warnings.append(
                    f"The VH values (median {vh_median:.3g}) look like amplitude, not power: read as power they are "
                    f"{10 * np.log10(vh_median):.0f} dB, as amplitude {20 * np.log10(vh_median):.0f} dB. "
                    "If the file holds amplitude, pass {units=amplitude} (taken as power, water is underestimated).")
            return Units.LINEAR, f"detected: sampled values non-negative, median {median:.3g}"
        raise OptionError("units", Units.AUTO, f"cannot tell whether the values are dB or linear power "
                          f"({negative:.0%} negative, median {median:.3g})", "pass {units=db} or {units=linear}",
                          " and ".join(str(p) for p in self.paths))

    def _check_band_order(self, sample: np.ndarray) -> None:
        """Warn when the band taken as VH is clearly brighter than VV (VH is the darker polarisation)."""
        if sample.shape[1] == 0:
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            db = sample if self.units == "db" else 10 * np.log10(np.where(sample > 0, sample, np.nan))
            vv, vh = (float(np.nanmedian(band)) for band in db)
        if vh - vv > SWAP_MARGIN_DB:
            self.warnings.append(
                f"{self.paths[0]}: band 1 (taken as VV) is darker than band 2 (median {vv:.1f} vs {vh:.1f} dB), "
                "but VH is the darker polarisation, so the bands look swapped; if so, pass {vv_band=2} "
                "{vh_band=1}.")

    def crop(self, extent: Sequence[float]) -> None:
        """Map only the pixels touching ``extent`` (xmin, ymin, xmax, ymax in the input's CRS)."""
        row, col, height, width = extent_window(self.grid, extent, self.paths[0])
        self._origin = (self._origin[0] + row, self._origin[1] + col)
        self._raw_sample = None  # the sample covered the whole raster
        self.grid = self.grid.window(row, col, height, width)

    def describe(self, native_m: float | None = None) -> str:
        """A multi-line summary: files, bands, units, size, CRS, pixel size and warnings.

        With ``native_m`` (the model's pixel size) it also warns about a far-off resolution.
        """
        size = self.grid.pixel_size_m
        crs_name = self.grid.crs_wkt.split('"')[1] if '"' in self.grid.crs_wkt else self.grid.crs_wkt[:60]
        lines = [f"Files: {', '.join(str(p) for p in self.paths)}"]
        if self.product is not None:
            lines.append(f"Product: {self.product.kind}")
            lines += [f"Processing: {step}" for step in self.product.steps]
        lines += [*(f"{pol}: {name}" for pol, name in zip(self.polarisations, self.band_names)),
                 f"Units: {UNITS_DESCRIPTIONS[self.units]} "
                 f"({self.units_reason})",
                 f"Size: {self.grid.width} x {self.grid.height} pixels",
                 f"CRS: {crs_name}",
                 f"Pixel size: {'unknown' if size is None else f'about {size:.1f} m'}",
                 f"Nodata: {self._nodata_rule()}"]
        resolution = resolution_warning(self.grid, native_m) if native_m else None
        lines += [f"Warning: {w}" for w in [*self.warnings, resolution] if w]
        return "\n".join(lines)

    def _nodata_rule(self) -> str:
        values = {self._files[i].nodata[band - 1] for i, band in self._bands}
        flagged = sorted(f"{v:g}" for v in values if v is not None and np.isfinite(v))
        rule = "NaN, +-inf, pixels 0 in both bands"
        rule += ", values <= 0 (linear)" if self.units in (Units.LINEAR, Units.AMPLITUDE) else ""
        return rule + (f", flagged value {' / '.join(flagged)}" if flagged else "")

    def close(self) -> None:
        for raster in self._files:
            raster.close()

    def __enter__(self) -> "Sentinel1Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def extent_window(grid: RasterGrid, extent: Sequence[float], path: Path) -> tuple[int, int, int, int]:
    """The pixel window (row, col, height, width) of ``grid`` touching ``extent``; FloodSarError if none."""
    if len(extent) != 4:
        raise OptionError("extent", extent, "{extent} needs four numbers: xmin ymin xmax ymax (in the input's CRS)")
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    x0, dx, rx, y0, ry, dy = grid.transform
    if rx or ry:
        raise FloodSarError(f"{path}: the raster is rotated, so it cannot be cut to an extent; warp it "
                            "north-up first (gdalwarp) or map the whole raster.")
    if not (xmin < xmax and ymin < ymax):
        raise OptionError("extent", extent, f"the extent {xmin:g} {ymin:g} {xmax:g} {ymax:g} is empty",
                          "give {extent} as xmin ymin xmax ymax with xmin < xmax and ymin < ymax")
    cols = sorted(_snap((x - x0) / dx) for x in (xmin, xmax))
    rows = sorted(_snap((y - y0) / dy) for y in (ymin, ymax))
    col0, col1 = max(0, math.floor(cols[0])), min(grid.width, math.ceil(cols[1]))
    row0, row1 = max(0, math.floor(rows[0])), min(grid.height, math.ceil(rows[1]))
    if col0 >= col1 or row0 >= row1:
        raise FloodSarError(f"{path}: the extent {xmin:g} {ymin:g} {xmax:g} {ymax:g} does not overlap the "
                            "raster (extents are in the raster's CRS); choose an area inside it.")
    return row0, col0, row1 - row0, col1 - col0


def _snap(pixel: float) -> float:
    """A pixel coordinate rounded when it is on a pixel edge but for floating-point error."""
    nearest = round(pixel)
    return float(nearest) if abs(pixel - nearest) < 1e-6 else pixel


def _label(raster: RasterFile, band: int, how: str) -> str:
    description = raster.descriptions[band - 1]
    quoted = f' "{description}"' if description else ""
    return f"{file_name(raster.path)} band {band}{quoted}{how}"


def _check_band(raster: RasterFile, band: int, option: str) -> None:
    """``option`` ('vv_band' or 'vh_band') must name one of the raster's bands."""
    if not 1 <= band <= raster.count:
        raise OptionError(option, band, f"has {raster.count} band(s), so {{{option}={band}}} does not exist",
                          f"choose a band from 1 to {raster.count}", raster.path)


def _single_band(raster: RasterFile, vv_band: int | None, vh_band: int | None
                 ) -> tuple[list[tuple[int, int]], tuple[str, ...], tuple[str, ...]]:
    """A VV-only or VH-only raster: the polarisation from the band given (VV or VH), its description or name."""
    named = polarisation(raster.descriptions[0]) or polarisation(file_stem(raster.path))
    pol = "VV" if vv_band is not None else "VH" if vh_band is not None else named
    if pol is None:
        raise OptionError("vv_band", None, "is a 1-band raster whose description and name do not say VV or VH",
                          "say which with {vv_band=1} or {vh_band=1}", raster.path)
    _check_band(raster, vv_band or vh_band or 1, f"{pol.lower()}_band")
    how = "" if named == pol else " (as given)"
    return [(0, 1)], (_label(raster, 1, how),), (pol,)


def _one_file(raster: RasterFile, vv_band: int | None, vh_band: int | None
              ) -> tuple[list[tuple[int, int]], tuple[str, str]]:
    """Find VV and VH in one multi-band file: explicit bands, then descriptions, then band 1/2."""
    if raster.count < 2:
        pol = polarisation(raster.descriptions[0]) or polarisation(file_stem(raster.path))
        kind = f"a single-polarisation ({pol}-only)" if pol else "a 1-band"
        raise OptionError("method", Method.MODEL, f"is {kind} raster, but the model needs both VV and VH",
                          "pass a file with both bands, or the VV file with its VH file as {vh_file}, "
                          "or use {method=otsu}", raster.path)
    for band, option in ((vv_band, "vv_band"), (vh_band, "vh_band")):
        if band is not None:
            _check_band(raster, band, option)
    found = {pol: [i + 1 for i, d in enumerate(raster.descriptions) if polarisation(d) == pol]
             for pol in POLARISATIONS}
    vv_how = " (as given)" if vv_band is not None else ""
    vh_how = " (as given)" if vh_band is not None else ""
    if vv_band is None and len(found["VV"]) == 1:
        vv_band, vv_how = found["VV"][0], " (from its description)"
    if vh_band is None and len(found["VH"]) == 1:
        vh_band, vh_how = found["VH"][0], " (from its description)"
    if raster.count == 2 and vv_band is None and vh_band is None:
        vv_band, vh_band = 1, 2
        vv_how = vh_how = ASSUMED_ORDER
    elif raster.count == 2 and vv_band is None:
        vv_band, vv_how = 3 - vh_band, " (the other band)"
    elif raster.count == 2 and vh_band is None:
        vh_band, vh_how = 3 - vv_band, " (the other band)"
    if vv_band is None or vh_band is None:
        raise OptionError("vv_band", vv_band, f"has {raster.count} bands and their descriptions do not name VV "
                          "and VH", "say which bands hold them with {vv_band=N}, {vh_band=M}", raster.path)
    if vv_band == vh_band:
        raise OptionError("vh_band", vh_band, f"VV and VH cannot both be band {vv_band}",
                          "pass different {vv_band} and {vh_band}", raster.path)
    return [(0, vv_band), (0, vh_band)], (_label(raster, vv_band, vv_how), _label(raster, vh_band, vh_how))


def _two_files(vv: RasterFile, vh: RasterFile, vv_band: int | None, vh_band: int | None, io: RasterIO
               ) -> tuple[list[tuple[int, int]], tuple[str, str]]:
    """VV from the first file, VH from the second, on the same grid."""
    vv_band = 1 if vv_band is None else vv_band
    vh_band = 1 if vh_band is None else vh_band
    _check_band(vv, vv_band, "vv_band")
    _check_band(vh, vh_band, "vh_band")
    for raster, band, expected in ((vv, vv_band, "VV"), (vh, vh_band, "VH")):
        named = polarisation(raster.descriptions[band - 1]) or polarisation(file_stem(raster.path))
        if named and named != expected:
            raise FloodSarError(
                f"{raster.path}: looks like {named} but was given as the {expected} file; "
                "pass the VV file first and the VH file second.")
    if not ancillary.same_grid(vv.grid, vh.grid, io):
        raise FloodSarError(
            f"{vh.path}: is not on the same grid as {vv.path} (size, position or CRS differ); resample "
            f"or align it first (e.g. gdalwarp with the VV file's -te, -tr and -t_srs).")
    return [(0, vv_band), (1, vh_band)], (_label(vv, vv_band, ""), _label(vh, vh_band, ""))


def open_sentinel1(inputs: Sequence[str | Path], *, vv_band: int | None = None, vh_band: int | None = None,
                   units: Units = Units.AUTO, io: RasterIO | None = None, single_polarisation: bool = False,
                   align_to: RasterGrid | None = None, role: str = "input",
                   dem: str | Path | None = None) -> Sentinel1Source:
    """Open one VV+VH file or two files (VV, VH) with ``io`` (default: :func:`.io_choice.choose_io`);
    FloodSarError on anything the engine cannot use.

    ``single_polarisation`` also accepts one VV-only or VH-only band. ``align_to`` reads the files
    reprojected onto that grid, window by window (a pre-flood image on the post-flood grid); ``role``
    names the image in errors. ``dem``: terrain heights for geocoding a GRD product.
    """
    io = io or choose_io()
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not 1 <= len(inputs) <= 2:
        raise FloodSarError(f"got {len(inputs)} input files; pass one file with VV and VH bands, "
                            "or two files: VV first, then VH.")
    from .products import resolve

    product = resolve(inputs, io, dem)
    if product.units and units not in (Units.AUTO, product.units):
        raise OptionError("units", units, f"is a {product.kind} whose units are known ({product.units_reason})",
                          "leave out {units}", inputs[0])
    files: list[RasterFile] = [product.raster] if product.raster else []
    try:
        if product.raster is not None and align_to is not None and not ancillary.same_grid(product.raster.grid,
                                                                                            align_to, io):
            raise FloodSarError(f"{inputs[0]}: the {role} is a {product.kind}, which FloodSAR cannot yet read "
                                "onto another image's grid; export it as a GeoTIFF first.")
        for path in product.paths:
            files.append(io.open_raster(path) if align_to is None
                         else ancillary.open_aligned(path, align_to, "bilinear", io, role)[0])
        polarisations = POLARISATIONS
        if len(files) == 1 and files[0].count == 1 and single_polarisation:
            bands, names, polarisations = _single_band(files[0], vv_band, vh_band)
        elif len(files) == 1:
            bands, names = _one_file(files[0], vv_band, vh_band)
        else:
            bands, names = _two_files(files[0], files[1], vv_band, vh_band, io)
        return Sentinel1Source(files, bands, names, units, polarisations, product)
    except BaseException:
        for raster in files:
            raster.close()
        raise
