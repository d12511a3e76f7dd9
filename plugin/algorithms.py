"""Processing algorithms ``floodsar:map_flood_extent`` (model) and ``floodsar:otsu_water`` (baseline).

Both are thin adapters around :func:`floodsar.engine.pipeline.predict`. Input layers
become file paths on the main thread (:meth:`prepareAlgorithm`); output destinations
are resolved in :meth:`processAlgorithm` with the context Processing runs it with (a
copy in the toolbox's background task, whose layers to load Processing hands back to
the dialog afterwards); the engine runs there with QGIS's own GDAL; each loaded
output gets its own post-processor (name, style, place in the layer tree). Engine
errors become QgsProcessingException messages worded for QGIS (never a traceback).
"""
from __future__ import annotations

import time
from typing import Any

from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessing, QgsProcessingAlgorithm, QgsProcessingContext,
                       QgsProcessingException, QgsProcessingFeedback, QgsProcessingOutputLayerDefinition,
                       QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean, QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterExtent, QgsProcessingParameterFile, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorDestination, QgsProperty,
                       QgsRasterLayer)
from qgis.PyQt.QtGui import QIcon

from ..engine.choices import Backend, Device, Units, values
from ..engine.errors import FloodSarError
from ..engine.flood import FloodOptions
from ..engine.gdal_io import GdalIO
from ..engine.pipeline import PredictionRequest, predict
from ..engine.terrain import HAND_MAX_M, SLOPE_MAX_DEG
from .dependencies import INSTALL_MENU
from .inputs import InputSummary, product_name
from .layers import OUTPUT_STYLES, ResultLayerPostProcessor, icon, layer_path, run_label
from .parameters import (QGIS_WORDING, BACKEND, BATCH, CLASSES, DEM, DEVICE, EXCLUDE, EXTENT, FLOOD_AREA_KM2, HAND,
                         HAND_MAX, INPUT, MIN_AREA_M2, MODEL, OUTPUT, OVERLAP, PRE, PRE_VH, PROBABILITIES, PRODUCT,
                         PRODUCT_FOLDER, REFERENCE_WATER, REPORT, SECONDS, SLOPE_MAX, THRESHOLD, TILE, TRUST_MODEL,
                         UNITS, VALID_AREA_KM2, VECTOR, VH, VH_BAND, VV_BAND, WARNINGS, WATER_AREA_KM2)

DEVICES, BACKENDS, UNIT_CHOICES = values(Device), values(Backend), values(Units)

HELP_URL = "https://github.com/floodsar/floodsar#qgis-plugin"
#: Seconds between two "time left" lines in the toolbox log.
PROGRESS_TEXT_EVERY_S = 15.0
#: The product files the file picker offers (any path or URL may also be typed).
PRODUCT_FILTER = "Sentinel-1 products (*.zip *.safe *.dim *.tif *.tiff *.vrt);;All files (*)"
#: Output parameters that name files (the rest are numbers and text).
FILE_OUTPUTS = (OUTPUT, PROBABILITIES, VECTOR)


def layer_file(layer: QgsRasterLayer | None, parameter: str) -> str:
    """The GeoTIFF (or other GDAL file) behind ``layer``; QgsProcessingException if it cannot be used."""
    if layer is None:
        raise QgsProcessingException(f"{parameter}: choose a Sentinel-1 raster layer.")
    name = layer.name()
    path = layer_path(layer)
    if path is None:
        raise QgsProcessingException(f"Layer '{name}' is not a raster file; save it as a GeoTIFF and use that.")
    if not layer.crs().isValid():
        raise QgsProcessingException(
            f"Layer '{name}' ({path}) has no coordinate reference system; assign one in Layer Properties "
            "> Source and run again.")
    return path


def missing_package_message(package: str | None) -> str:
    """What to do when QGIS's Python lacks ``package`` (onnxruntime or torch)."""
    return (f"This run needs the Python package '{package}', which QGIS's Python does not have; install it with "
            f"{INSTALL_MENU} (the Otsu baseline needs none).")


class FloodSarAlgorithm(QgsProcessingAlgorithm):
    """Parameters and the engine call shared by both algorithms; subclasses pick the method."""

    METHOD = ""
    #: Help shown beside the parameters in the toolbox dialog (shortHelpString), per method.
    SUMMARY = ""
    #: Help for each parameter (shown as its tooltip in the dialog and in the algorithm help).
    PARAMETER_HELP = {
        INPUT: "A Sentinel-1 GRD raster (terrain-corrected, in a map projection) with VV and VH bands, dB or "
                 "linear power; or the VV layer when VV and VH are separate files. Or leave it empty and choose a "
                 "product below.",
        PRODUCT: "A Sentinel-1 product as downloaded, instead of a layer: a GRD SAFE .zip or its manifest.safe "
                   "(calibrated, noise-removed and geocoded here), an ASF HyP3 RTC .zip, a SNAP BEAM-DIMAP .dim, a "
                   "zip of GeoTIFFs, or a URL of a GeoTIFF (https://...). The log lists what will be done to it.",
        PRODUCT_FOLDER: "A Sentinel-1 product folder, instead of a layer: a GRD .SAFE folder or an unzipped HyP3 "
                          "RTC folder.",
        VH: "Only when VV and VH are separate files: the VH layer, on the same grid as the VV layer.",
        VV_BAND: "Band holding VV. Empty: found from the band descriptions (VV, VH), else band 1 of a 2-band "
                   "file.",
        VH_BAND: "Band holding VH. Empty: found from the band descriptions, else band 2 of a 2-band file.",
        UNITS: "Backscatter units of the input; auto detects dB or linear power from the values.",
        EXTENT: "Map only this area (the map canvas, a layer's extent such as an area-of-interest polygon "
                  "layer, or drawn). Empty: the whole raster.",
        MIN_AREA_M2: "Water and dry patches smaller than this (m²) are merged into their surroundings; 0 keeps "
                       "every pixel (the CEMS rapid mapping unit is 2,500 m²).",
        PRE: "A pre-flood Sentinel-1 image of the same area (any grid): flood is water now that was not "
               "water then (change detection). With any flood input the output is a flood class map.",
        PRE_VH: "Only when the pre-flood VV and VH are separate files: the pre-flood VH layer.",
        REFERENCE_WATER: "Permanent water to tell apart from flood: JRC occurrence/seasonality, a 0/1 mask or "
                           "polygons, in any CRS.",
        HAND: "Height above nearest drainage (m) raster: pixels above the HAND threshold are excluded.",
        DEM: "Elevation (m) raster: pixels steeper than the slope threshold are excluded (radar shadow, "
               "dark slopes); a GRD product is also terrain-corrected with it.",
        EXCLUDE: "A raster (non-zero pixels) or polygons of areas to exclude from the flood map.",
        HAND_MAX: "Pixels higher than this above the nearest drainage (m) cannot be flooded.",
        SLOPE_MAX: "Pixels steeper than this (degrees) are excluded.",
        OUTPUT: "The water mask GeoTIFF: 1 water, 0 dry, 255 nodata; with flood inputs the flood classes "
                  "(0 dry, 1 flood, 2 reference water, 3 excluded).",
        VECTOR: "Optional GeoPackage of water polygons with their area in m².",
        REPORT: "Optional JSON report: areas per class, the inputs and the thresholds used.",
    }

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802
        return ""

    def icon(self) -> QIcon:
        return icon()

    def helpUrl(self) -> str:  # noqa: N802
        return HELP_URL

    def shortHelpString(self) -> str:  # noqa: N802
        details = "".join(f"<dt><b>{self.parameterDefinition(name).description()}</b></dt><dd>{text}</dd>"
                          for name, text in self.PARAMETER_HELP.items() if self.parameterDefinition(name))
        return f"<p>{self.SUMMARY}</p><dl>{details}</dl>"

    def flags(self):
        # The engine reads files, never QGIS objects, so it runs safely in a background thread.
        return super().flags() | QgsProcessingAlgorithm.FlagSupportsBatch | QgsProcessingAlgorithm.FlagCanCancel

    def createInstance(self) -> "FloodSarAlgorithm":  # noqa: N802
        return type(self)()

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        # Options with defaults are optional, so models and qgis_process calls need only name the inputs.
        self._add(QgsProcessingParameterRasterLayer(INPUT, "Sentinel-1 layer (VV + VH bands, or the VV layer)",
                                                    optional=True))
        self._add(QgsProcessingParameterRasterLayer(
            VH, "VH layer (only when VV and VH are separate files)", optional=True))
        self._add(QgsProcessingParameterFile(
            PRODUCT, "…or a Sentinel-1 product: .zip (GRD or HyP3), manifest.safe, SNAP .dim or URL",
            QgsProcessingParameterFile.File, fileFilter=PRODUCT_FILTER, optional=True))
        self._add(QgsProcessingParameterFile(
            PRODUCT_FOLDER, "…or a Sentinel-1 product folder (.SAFE, unzipped HyP3)",
            QgsProcessingParameterFile.Folder, optional=True))
        self.add_method_parameters()
        self.add_flood_parameters()
        self._add(QgsProcessingParameterExtent(EXTENT, "Area to map (empty = the whole raster)", optional=True))
        self._add(QgsProcessingParameterNumber(
            MIN_AREA_M2, "Minimum water patch area (m², 0 = keep all)", QgsProcessingParameterNumber.Double,
            0.0, True, 0.0))
        self._add(QgsProcessingParameterBand(VV_BAND, "VV band (empty = detect)", None, INPUT, True), True)
        self._add(QgsProcessingParameterBand(VH_BAND, "VH band (empty = detect)", None, INPUT, True), True)
        self._add(QgsProcessingParameterEnum(UNITS, "Backscatter units", list(UNIT_CHOICES), defaultValue=0,
                                             optional=True), True)
        self._add(QgsProcessingParameterRasterDestination(
            OUTPUT, "Water mask (1 water, 0 dry, 255 nodata; with flood inputs: the flood classes)"))
        self.add_method_outputs()
        self._add(QgsProcessingParameterVectorDestination(
            VECTOR, "Flood polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self._add(QgsProcessingParameterFileDestination(
            REPORT, "Report (JSON: areas per class, inputs, thresholds)", "JSON (*.json)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber(WATER_AREA_KM2, "Water area (km²)"))
        self.addOutput(QgsProcessingOutputNumber(VALID_AREA_KM2, "Mapped (valid) area (km²)"))
        self.addOutput(QgsProcessingOutputNumber(FLOOD_AREA_KM2, "Flood area (km², with flood inputs)"))
        self.addOutput(QgsProcessingOutputNumber(SECONDS, "Run time (s)"))
        self.addOutput(QgsProcessingOutputString(BACKEND, "Method and compute device used"))
        self.addOutput(QgsProcessingOutputString(WARNINGS, "Warnings about the input (one per line)"))

    def add_flood_parameters(self) -> None:
        """Optional inputs that turn the water mask into flood classes (0 dry, 1 flood, 2 reference water,
        3 excluded); layers in any CRS."""
        self._add(QgsProcessingParameterRasterLayer(
            PRE, "Pre-flood image (VV + VH, or its VV layer): flood = new water", optional=True))
        self._add(QgsProcessingParameterRasterLayer(
            PRE_VH, "Pre-flood VH layer (only when VV and VH are separate files)", optional=True), True)
        for key, label in ((REFERENCE_WATER, "Reference water (JRC occurrence/seasonality, 0/1 mask or polygons)"),
                           (HAND, "Height above nearest drainage (m): excluded above the HAND threshold"),
                           (DEM, "Elevation (m): excluded where steeper than the slope threshold"),
                           (EXCLUDE, "Exclusion mask (non-zero pixels) or polygons")):
            self._add(QgsProcessingParameterFile(key, label, QgsProcessingParameterFile.File, optional=True))
        self._add(QgsProcessingParameterNumber(
            HAND_MAX, "HAND threshold (m)", QgsProcessingParameterNumber.Double, HAND_MAX_M, True, 0.0), True)
        self._add(QgsProcessingParameterNumber(
            SLOPE_MAX, "Slope threshold (degrees)", QgsProcessingParameterNumber.Double, SLOPE_MAX_DEG, True,
            0.0, 90.0), True)

    def flood_options(self, parameters: dict, context: QgsProcessingContext) -> FloodOptions:
        """The flood inputs as engine options (inactive when none is given)."""
        pre = [layer_file(layer, key) for key in (PRE, PRE_VH)
               if (layer := self.parameterAsRasterLayer(parameters, key, context)) is not None]
        files = {key: self.parameterAsFile(parameters, key, context) or None
                 for key in (REFERENCE_WATER, HAND, DEM, EXCLUDE)}
        return FloodOptions(pre=pre, reference_water=files[REFERENCE_WATER], hand=files[HAND],
                            dem=files[DEM], exclude=[files[EXCLUDE]] if files[EXCLUDE] else [],
                            hand_max_m=self.parameterAsDouble(parameters, HAND_MAX, context),
                            slope_max_deg=self.parameterAsDouble(parameters, SLOPE_MAX, context))

    def add_method_parameters(self) -> None:
        """Inputs specific to the method (before the outputs)."""

    def add_method_outputs(self) -> None:
        """Output files specific to the method."""

    def _add(self, parameter: QgsProcessingParameterDefinition, advanced: bool = False) -> None:
        """Add ``parameter`` with its help text (the dialog shows it as the tooltip)."""
        if advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        parameter.setHelp(self.PARAMETER_HELP.get(parameter.name(), ""))
        self.addParameter(parameter)

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> bool:
        """Main thread: turn layers into file paths (or describe the product) and the extent into the input's CRS."""
        bands = dict(vv_band=self.parameterAsInt(parameters, VV_BAND, context) or None,
                     vh_band=self.parameterAsInt(parameters, VH_BAND, context) or None,
                     units=UNIT_CHOICES[self.parameterAsEnum(parameters, UNITS, context)])
        inputs, scene, crs = self.input(parameters, context, feedback, bands)
        extent = None
        if parameters.get(EXTENT) not in (None, ""):
            box = self.parameterAsExtent(parameters, EXTENT, context, crs)
            extent = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
        self.label = run_label(scene, self.METHOD)
        self.options = dict(
            inputs=inputs,
            method=self.METHOD,
            min_area_m2=self.parameterAsDouble(parameters, MIN_AREA_M2, context),
            extent=extent,
            flood=self.flood_options(parameters, context),
            report=self.parameterAsFileOutput(parameters, REPORT, context) or None,
            io=GdalIO(),
            **bands,
            **self.method_options(parameters, context))
        return True

    def input(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback,
              bands: dict[str, Any]) -> tuple[list[str], str, QgsCoordinateReferenceSystem]:
        """The input file(s), the scene's name and its CRS, from the layer(s) or from the product.

        A product is opened here to tell the log what will be done to it (calibration, geocoding, ...)
        and to find its CRS; a product that cannot be read stops the run before it starts.
        """
        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        vh = self.parameterAsRasterLayer(parameters, VH, context)
        products = [path for key in (PRODUCT, PRODUCT_FOLDER)
                    if (path := self.parameterAsFile(parameters, key, context))]
        if len(products) + (layer is not None) != 1 or (products and vh is not None):
            raise QgsProcessingException(
                "Choose one Sentinel-1 input: a layer (with its VH layer when VV and VH are separate), a product "
                "file or a product folder.")
        if layer is not None:
            return [layer_file(layer, INPUT), *([layer_file(vh, VH)] if vh else [])], layer.name(), layer.crs()
        summary = InputSummary(products, **bands, single_polarisation=self.METHOD == "otsu",
                               dem=self.parameterAsFile(parameters, DEM, context) or None)
        if summary.error:
            raise QgsProcessingException(summary.error)
        for line in summary.lines:
            feedback.pushInfo(line)
        return products, product_name(products[0]), QgsCoordinateReferenceSystem.fromWkt(summary.crs_wkt)

    def method_options(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Any]:
        """Extra PredictionRequest fields for the method."""
        return {}

    def destination(self, parameters: dict, name: str, context: QgsProcessingContext) -> str | None:
        """The file for output ``name``, or None when an optional output is left empty.

        Resolving a destination also registers it with ``context`` for loading on completion,
        so an empty optional output is never resolved (Processing would then report it as
        "not correctly generated").
        """
        value = parameters.get(name)
        sink = value.sink if isinstance(value, QgsProcessingOutputLayerDefinition) else value
        if isinstance(sink, QgsProperty) and sink.propertyType() == QgsProperty.StaticProperty:
            sink = sink.staticValue()
        if self.parameterDefinition(name).flags() & QgsProcessingParameterDefinition.FlagOptional and not sink:
            return None
        return self.parameterAsOutputLayer(parameters, name, context) or None

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Any thread: resolve the outputs in this run's context and run the engine on files only."""
        self.destinations = {name: self.destination(parameters, name, context)
                             for name in FILE_OUTPUTS if self.parameterDefinition(name)}
        request = PredictionRequest(output=self.destinations[OUTPUT], vector=self.destinations[VECTOR],
                                    probabilities=self.destinations.get(PROBABILITIES), **self.options)
        started = time.monotonic()
        shown = [started]  # when a time-left line was last shown

        def progress(percent: float) -> None:
            feedback.setProgress(percent)
            left = time_left(started, percent)
            # the dialog appends each progress text to its log: say it every PROGRESS_TEXT_EVERY_S seconds only
            if left and time.monotonic() - shown[0] >= PROGRESS_TEXT_EVERY_S:
                shown[0] = time.monotonic()
                feedback.setProgressText(f"Mapping water: about {left} left")

        try:
            result = predict(request, progress=progress, is_cancelled=feedback.isCanceled)
        except FloodSarError as exc:
            raise QgsProcessingException(exc.worded(QGIS_WORDING)) from exc
        except ImportError as exc:  # onnxruntime (or torch) is not installed for QGIS's Python
            raise QgsProcessingException(missing_package_message(exc.name)) from exc
        warnings = [QGIS_WORDING.fill(warning) for warning in result.warnings]
        for warning in warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo(f"Water: {result.water_area_km2:.3f} km² of {result.valid_area_km2:.3f} km² mapped "
                          f"in {result.seconds:.1f} s ({result.backend}).")
        outputs = {OUTPUT: str(result.output), WATER_AREA_KM2: result.water_area_km2,
                   VALID_AREA_KM2: result.valid_area_km2, SECONDS: result.seconds,
                   BACKEND: result.backend, WARNINGS: "\n".join(warnings)}
        if result.class_areas_km2:
            outputs[FLOOD_AREA_KM2] = result.class_areas_km2["flood"]
            feedback.pushInfo("Flood classes: " + ", ".join(f"{name} {km2:.3f} km²"
                                                           for name, km2 in result.class_areas_km2.items()))
        for key, path in ((PROBABILITIES, result.probabilities), (VECTOR, result.vector),
                          (REPORT, result.report)):
            if path:
                outputs[key] = str(path)
        return outputs

    def postProcessAlgorithm(self, context: QgsProcessingContext,  # noqa: N802
                             feedback: QgsProcessingFeedback) -> dict:
        """Main thread: name, style and place each layer Processing loads when the run ends."""
        classes = self.options["flood"].active
        for output, path in self.destinations.items():
            output = CLASSES if output == OUTPUT and classes else output  # a flood class map
            if path and context.willLoadLayerOnCompletion(path):
                details = context.layerToLoadOnCompletionDetails(path)
                details.name = f"{self.label} {OUTPUT_STYLES[output][0]}"  # the post-processor makes it unique
                details.forceName = True
                details.setPostProcessor(ResultLayerPostProcessor.create(output, self.label))
        return {}


def time_left(started: float, percent: float) -> str | None:
    """The time left at the pace since ``started`` (time.monotonic) in words ('40 s', '3 min'); None before 1%."""
    if not 1 <= percent < 100:
        return None
    seconds = (time.monotonic() - started) * (100 - percent) / percent
    return f"{max(1, round(seconds))} s" if seconds < 90 else f"{round(seconds / 60)} min"


class MapFloodExtent(FloodSarAlgorithm):
    """Deep learning flood map (the bundled model or a custom FloodSAR ONNX/PyTorch model)."""

    METHOD = "model"
    SUMMARY = ("Maps open flood water in a Sentinel-1 GRD raster (VV and VH backscatter, dB or linear) with a "
               "segmentation model: the bundled FloodSAR model unless you choose another FloodSAR .onnx file. "
               "Outputs a water mask and optionally the water probability and flood polygons. The model maps "
               "open water, not every flood: see its known failure modes in the FloodSAR panel (Model card).")
    PARAMETER_HELP = {
        **FloodSarAlgorithm.PARAMETER_HELP,
        MODEL: "A FloodSAR .onnx (or .pt2) model file; empty uses the bundled model.",
        DEVICE: "Where the model runs: auto uses a GPU when ONNX Runtime (or PyTorch) can, else the CPU.",
        THRESHOLD: "Water probability above which a pixel is water (0..1); empty uses the model's own.",
        BACKEND: "onnx (ONNX Runtime, the default) or torch (PyTorch, for its GPU support).",
        TILE: "Tile size in pixels; 0 uses the model's own.",
        OVERLAP: "Context pixels around each tile; empty uses the model's own, 0 means none.",
        TRUST_MODEL: "Open a .pt2 (PyTorch) model that is not the bundled one: such a file can run programs "
                       "when opened, so tick this only for a file you trust.",
        BATCH: "Tiles per batch; 0 chooses (1 on CPU, 4 on GPU).",
        PROBABILITIES: "Optional GeoTIFF of the water probability (0..1, -1 nodata).",
    }

    def name(self) -> str:
        return "map_flood_extent"

    def displayName(self) -> str:  # noqa: N802
        return "Map flood extent (deep learning)"

    def add_method_parameters(self) -> None:
        self._add(QgsProcessingParameterFile(
            MODEL, "Model file (empty = bundled FloodSAR model)", QgsProcessingParameterFile.File,
            fileFilter="FloodSAR models (*.onnx *.pt2)", optional=True))
        self._add(QgsProcessingParameterEnum(DEVICE, "Device", list(DEVICES), defaultValue=0, optional=True))
        self._add(QgsProcessingParameterNumber(
            THRESHOLD, "Water probability threshold (empty = the model's)", QgsProcessingParameterNumber.Double,
            None, True, 0.0, 1.0))
        self._add(QgsProcessingParameterEnum(BACKEND, "Backend", list(BACKENDS), defaultValue=0, optional=True),
                  True)
        self._add(QgsProcessingParameterBoolean(
            TRUST_MODEL, "Trust this PyTorch model file (a .pt2 can run programs when opened)", False, True),
                  True)
        for key, label in ((TILE, "Tile size in pixels (0 = model default)"),
                           (BATCH, "Tiles per batch (0 = default)")):
            self._add(QgsProcessingParameterNumber(key, label, QgsProcessingParameterNumber.Integer, 0, True, 0),
                      True)
        # 0 is a valid overlap, so "not set" (None) means the model's default.
        self._add(QgsProcessingParameterNumber(OVERLAP, "Tile overlap in pixels (empty = model default)",
                                               QgsProcessingParameterNumber.Integer, None, True, 0), True)

    def add_method_outputs(self) -> None:
        self._add(QgsProcessingParameterRasterDestination(
            PROBABILITIES, "Water probability", optional=True, createByDefault=False))

    def method_options(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Any]:
        return {
            "model": self.parameterAsFile(parameters, MODEL, context) or None,
            "device": DEVICES[self.parameterAsEnum(parameters, DEVICE, context)],
            "backend": BACKENDS[self.parameterAsEnum(parameters, BACKEND, context)],
            "tile": self.parameterAsInt(parameters, TILE, context) or None,
            "overlap": (None if parameters.get(OVERLAP) in (None, "")
                        else self.parameterAsInt(parameters, OVERLAP, context)),
            "trust_model": self.parameterAsBoolean(parameters, TRUST_MODEL, context),
            "batch": self.parameterAsInt(parameters, BATCH, context) or None,
            "threshold": optional_number(self, parameters, THRESHOLD, context),
        }


class OtsuWater(FloodSarAlgorithm):
    """Baseline: Otsu threshold on the backscatter, no model needed."""

    METHOD = "otsu"
    SUMMARY = ("Baseline water map from Sentinel-1 VH backscatter with an automatic (tiled Otsu) threshold; needs "
               "no model and no ONNX Runtime. Outputs a water mask and optionally flood polygons.")
    PARAMETER_HELP = {
        **FloodSarAlgorithm.PARAMETER_HELP,
        THRESHOLD: "VH backscatter (dB) below which a pixel is water; empty finds it with Otsu's method.",
    }

    def name(self) -> str:
        return "otsu_water"

    def displayName(self) -> str:  # noqa: N802
        return "Map water with an Otsu threshold (baseline)"

    def add_method_parameters(self) -> None:
        self._add(QgsProcessingParameterNumber(
            THRESHOLD, "VH threshold in dB (empty = automatic)", QgsProcessingParameterNumber.Double, None, True,
            -60.0, 20.0))

    def method_options(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Any]:
        return {"threshold": optional_number(self, parameters, THRESHOLD, context)}


def optional_number(algorithm: QgsProcessingAlgorithm, parameters: dict, name: str,
                    context: QgsProcessingContext) -> float | None:
    """An optional number parameter, or None when it is left empty."""
    if parameters.get(name) in (None, ""):
        return None
    return algorithm.parameterAsDouble(parameters, name, context)
