"""What to map and how: the request every front end builds, its options checked once, when it
is built; its output paths checked when the run starts (:meth:`PredictionRequest.check_outputs`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

from .choices import Backend, Device, Method, Precision, Units, choose
from .errors import OptionError
from .flood import FloodOptions
from .raster_io import RasterIO
from .report import check_report_path
from .safe_write import check_writable

RASTER_SUFFIXES = (".tif", ".tiff")
#: Output options: request field -> (suffixes it accepts, what FloodSAR writes there).
OUTPUT_FORMATS = {"output": (RASTER_SUFFIXES, "GeoTIFF"), "probabilities": (RASTER_SUFFIXES, "GeoTIFF"),
                  "vector": ((".gpkg",), "a GeoPackage")}

PathLike = Union[str, Path]


@dataclass
class PredictionRequest:
    """What to map and how. ``None`` for model/tile/overlap/batch means the defaults; for ``io``,
    :func:`.io_choice.choose_io` (GDAL inside QGIS, else rasterio). ``overwrite``: replace outputs
    that exist already (refused otherwise). OptionError at once for an option that cannot work."""

    inputs: Sequence[PathLike]
    output: PathLike
    method: Method = Method.MODEL
    model: Optional[PathLike] = None
    backend: Backend = Backend.ONNX
    device: Device = Device.AUTO
    tile: Optional[int] = None
    overlap: Optional[int] = None
    batch: Optional[int] = None
    probabilities: Optional[PathLike] = None
    vector: Optional[PathLike] = None
    min_area_m2: float = 0.0
    vv_band: Optional[int] = None
    vh_band: Optional[int] = None
    units: Units = Units.AUTO
    overwrite: bool = False
    io: Optional[RasterIO] = None
    flood: Optional[FloodOptions] = None
    report: Optional[PathLike] = None
    #: Open a ``.pt2`` model that is not the bundled one (a ``.pt2`` file can run code when opened).
    trust_model: bool = False
    extent: Optional[Tuple[float, float, float, float]] = None  # xmin ymin xmax ymax, input CRS; None: all
    threshold: Optional[float] = None  # water above this probability / below this dB (Otsu); None: default
    #: Which bundled model runs when ``model`` is None (see :func:`.models.bundled_model`).
    precision: Precision = Precision.AUTO

    def __post_init__(self) -> None:
        self.method = choose(Method, "method", self.method)
        self.backend = choose(Backend, "backend", self.backend)
        self.device = choose(Device, "device", self.device)
        self.units = choose(Units, "units", self.units)
        self.precision = choose(Precision, "precision", self.precision)
        if self.precision == Precision.INT8 and self.model is not None:
            raise OptionError("precision", self.precision, "{precision=int8} picks the bundled int8 model",
                              "give your own int8 model with {model} alone (floodsar-train quantize makes one)")
        if self.precision == Precision.INT8 and self.backend == Backend.TORCH:
            raise OptionError("precision", self.precision, "the int8 model runs in ONNX Runtime only",
                              "use {backend=onnx} or {precision=fp32}")
        for name, least in (("tile", 1), ("overlap", 0), ("batch", 1)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < least):
                raise OptionError(name, value, f"{{{name}}} must be a whole number of at least {least}, "
                                  f"not {value!r}")
        if not (math.isfinite(self.min_area_m2) and self.min_area_m2 >= 0):
            raise OptionError("min_area_m2", self.min_area_m2,
                              f"{{min_area_m2}} must be a number of square metres, 0 or more, not {self.min_area_m2}")
        if self.method == Method.MODEL and self.threshold is not None and not 0 < self.threshold < 1:
            raise OptionError("threshold", self.threshold, "{threshold} must be a water probability between 0 and 1 "
                              f"for {{method=model}}, not {self.threshold}")
        if self.method == Method.OTSU and self.probabilities:
            raise OptionError("probabilities", self.probabilities, "{probabilities} needs {method=model}: Otsu "
                              "thresholding gives no probability")
        if self.flood is not None:
            self.flood.check()

    def check_outputs(self) -> Tuple[Path, Optional[Path], Optional[Path]]:
        """Refuse, before any work, outputs that cannot or must not be written; (output, probabilities, vector)."""
        if self.report is not None:
            check_report_path(Path(self.report))
        paths = {name: Path(value) if value else None
                 for name, value in (("output", self.output), ("probabilities", self.probabilities),
                                     ("vector", self.vector))}
        for name, path in paths.items():
            if path is not None:
                self._check_output(name, path)
        written = [p for p in paths.values() if p is not None]
        if len({p.resolve() for p in written}) < len(written):
            raise OptionError("output", self.output, "the outputs must be different files",
                              "give each its own name", self.output)
        return paths["output"], paths["probabilities"], paths["vector"]

    def _check_output(self, name: str, path: Path) -> None:
        suffixes, kind = OUTPUT_FORMATS[name]
        if path.suffix.lower() not in suffixes:
            raise OptionError(name, path, f"{{{name}}} must end in {' or '.join(suffixes)} (FloodSAR writes {kind})",
                              path=path)
        check_writable(path)
        sources = [*self.inputs, *(self.flood.paths if self.flood else [])]
        if any(Path(source).exists() and path.resolve() == Path(source).resolve() for source in sources):
            raise OptionError(name, path, f"{{{name}}} would overwrite the input", "choose another output name",
                              path)
        if path.exists() and not self.overwrite:
            raise OptionError("overwrite", False, f"{{{name}}} exists already",
                              "choose another name, or allow {overwrite} to replace it", path)
