"""Processing algorithms ``floodsar:map_flood_extent`` (model) and ``floodsar:otsu_water`` (baseline).

Both are thin adapters around :func:`floodsar.engine.pipeline.predict`: layers are
resolved to file paths on the main thread (:meth:`prepareAlgorithm`), the engine
runs in :meth:`processAlgorithm` (a background thread in the toolbox and the
dock) with QGIS's own GDAL, and engine errors become QgsProcessingException
messages (never a traceback).
"""
from __future__ import annotations

from typing import Any

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingException,
                       QgsProcessingFeedback, QgsProcessingOutputNumber, QgsProcessingOutputString,
                       QgsProcessingParameterBoolean, QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorDestination,
                       QgsRasterLayer)
from qgis.PyQt.QtGui import QIcon

from ..engine.backends import BACKENDS, DEVICES
from ..engine.errors import FloodSarError
from ..engine.flood import FloodOptions
from ..engine.pipeline import PredictionRequest, predict
from ..engine.terrain import HAND_MAX_M, SLOPE_MAX_DEG
from ..engine.sentinel1 import UNITS_CHOICES as UNITS
from .layers import StylePostProcessor, icon, layer_path


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
            "> Source (or with gdal_edit.py -a_srs) and run again.")
    return path


class FloodSarAlgorithm(QgsProcessingAlgorithm):
    """Parameters and the engine call shared by both algorithms; subclasses pick the method."""

    METHOD = ""

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802
        return ""

    def icon(self) -> QIcon:
        return icon()

    def flags(self):
        # The engine reads files, never QGIS objects, so it runs safely in a background thread.
        return super().flags() | QgsProcessingAlgorithm.FlagSupportsBatch | QgsProcessingAlgorithm.FlagCanCancel

    def createInstance(self) -> "FloodSarAlgorithm":  # noqa: N802
        return type(self)()

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        # Options with defaults are optional, so models and qgis_process calls need only name the inputs.
        self.addParameter(QgsProcessingParameterRasterLayer(
            "INPUT", "Sentinel-1 layer (VV + VH bands, or the VV layer)"))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "VH", "VH layer (only when VV and VH are separate files)", optional=True))
        self.add_method_parameters()
        self._advanced(QgsProcessingParameterNumber(
            "VV_BAND", "VV band number (0 = detect)", QgsProcessingParameterNumber.Integer, 0, True, 0))
        self._advanced(QgsProcessingParameterNumber(
            "VH_BAND", "VH band number (0 = detect)", QgsProcessingParameterNumber.Integer, 0, True, 0))
        self._advanced(QgsProcessingParameterEnum("UNITS", "Backscatter units", list(UNITS), defaultValue=0,
                                                  optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_AREA_M2", "Minimum water patch area (m², 0 = keep all)", QgsProcessingParameterNumber.Double,
            0.0, True, 0.0))
        self.add_flood_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", "Water mask (1 water, 0 dry, 255 nodata; with flood inputs: the flood classes)"))
        self.add_method_outputs()
        self.addParameter(QgsProcessingParameterVectorDestination(
            "VECTOR", "Flood polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", "Report (JSON: areas per class, inputs, thresholds)", "JSON (*.json)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("WATER_AREA_KM2", "Water area (km²)"))
        self.addOutput(QgsProcessingOutputNumber("FLOOD_AREA_KM2", "Flood area (km², with flood inputs)"))
        self.addOutput(QgsProcessingOutputNumber("VALID_AREA_KM2", "Mapped (valid) area (km²)"))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", "Run time (s)"))
        self.addOutput(QgsProcessingOutputString("BACKEND", "Method and compute device used"))

    def add_flood_parameters(self) -> None:
        """Optional inputs that turn the water mask into flood classes (0 dry, 1 flood, 2 reference water,
        3 excluded); layers in any CRS."""
        self.addParameter(QgsProcessingParameterRasterLayer(
            "PRE", "Pre-flood image (VV + VH, or its VV layer): flood = new water", optional=True))
        self._advanced(QgsProcessingParameterRasterLayer(
            "PRE_VH", "Pre-flood VH layer (only when VV and VH are separate files)", optional=True))
        for key, label in (("REFERENCE_WATER", "Reference water (JRC occurrence/seasonality, 0/1 mask or polygons)"),
                           ("HAND", "Height above nearest drainage (m): excluded above the HAND threshold"),
                           ("DEM", "Elevation (m): excluded where steeper than the slope threshold"),
                           ("EXCLUDE", "Exclusion mask (non-zero pixels) or polygons")):
            self.addParameter(QgsProcessingParameterFile(key, label, QgsProcessingParameterFile.File,
                                                         optional=True))
        self._advanced(QgsProcessingParameterNumber(
            "HAND_MAX", "HAND threshold (m)", QgsProcessingParameterNumber.Double, HAND_MAX_M, True, 0.0))
        self._advanced(QgsProcessingParameterNumber(
            "SLOPE_MAX", "Slope threshold (degrees)", QgsProcessingParameterNumber.Double, SLOPE_MAX_DEG, True,
            0.0, 90.0))

    def flood_options(self, parameters: dict, context: QgsProcessingContext) -> FloodOptions:
        """The flood inputs as engine options (inactive when none is given)."""
        pre = [layer_file(layer, key) for key in ("PRE", "PRE_VH")
               if (layer := self.parameterAsRasterLayer(parameters, key, context)) is not None]
        files = {key: self.parameterAsFile(parameters, key, context) or None
                 for key in ("REFERENCE_WATER", "HAND", "DEM", "EXCLUDE")}
        return FloodOptions(pre=pre, reference_water=files["REFERENCE_WATER"], hand=files["HAND"],
                            dem=files["DEM"], exclude=[files["EXCLUDE"]] if files["EXCLUDE"] else [],
                            hand_max_m=self.parameterAsDouble(parameters, "HAND_MAX", context),
                            slope_max_deg=self.parameterAsDouble(parameters, "SLOPE_MAX", context))

    def add_method_parameters(self) -> None:
        """Inputs specific to the method (before the outputs)."""

    def add_method_outputs(self) -> None:
        """Output files specific to the method."""

    def _advanced(self, parameter: QgsProcessingParameterDefinition) -> None:
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(parameter)

    def prepareAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> bool:
        """Main thread: turn layers into file paths and build the engine request."""
        inputs = [layer_file(self.parameterAsRasterLayer(parameters, "INPUT", context), "INPUT")]
        vh = self.parameterAsRasterLayer(parameters, "VH", context)
        if vh is not None:
            inputs.append(layer_file(vh, "VH"))
        options = self.method_options(parameters, context)
        self.destinations = {
            "OUTPUT": self.parameterAsOutputLayer(parameters, "OUTPUT", context),
            "VECTOR": self.parameterAsOutputLayer(parameters, "VECTOR", context) or None,
            "PROBABILITIES": options.get("probabilities"),
        }
        self.request = PredictionRequest(
            inputs=inputs,
            output=self.destinations["OUTPUT"],
            method=self.METHOD,
            vector=self.destinations["VECTOR"],
            min_area_m2=self.parameterAsDouble(parameters, "MIN_AREA_M2", context),
            vv_band=self.parameterAsInt(parameters, "VV_BAND", context) or None,
            vh_band=self.parameterAsInt(parameters, "VH_BAND", context) or None,
            units=UNITS[self.parameterAsEnum(parameters, "UNITS", context)],
            io="gdal",
            flood=self.flood_options(parameters, context),
            report=self.parameterAsFileOutput(parameters, "REPORT", context) or None,
            **options)
        self.classes = self.request.flood.active
        return True

    def method_options(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Any]:
        """Extra PredictionRequest fields for the method."""
        return {}

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Any thread: run the engine on files only."""
        try:
            result = predict(self.request, progress=feedback.setProgress, is_cancelled=feedback.isCanceled)
        except FloodSarError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except ImportError as exc:  # onnxruntime (or torch) is not installed for QGIS's Python
            raise QgsProcessingException(
                f"This run needs the Python package '{exc.name}', which QGIS's Python does not have; install it "
                "with Plugins > FloodSAR > Install Python dependencies… (the Otsu baseline needs none).") from exc
        for warning in result.warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo(f"Water: {result.water_area_km2:.3f} km² of {result.valid_area_km2:.3f} km² mapped "
                          f"in {result.seconds:.1f} s ({result.backend}).")
        outputs = {"OUTPUT": str(result.output), "WATER_AREA_KM2": result.water_area_km2,
                   "VALID_AREA_KM2": result.valid_area_km2, "SECONDS": result.seconds,
                   "BACKEND": result.backend}
        if result.class_areas_km2:
            outputs["FLOOD_AREA_KM2"] = result.class_areas_km2["flood"]
            feedback.pushInfo("Flood classes: " + ", ".join(f"{name} {km2:.3f} km²"
                                                           for name, km2 in result.class_areas_km2.items()))
        for key, path in (("PROBABILITIES", result.probabilities), ("VECTOR", result.vector),
                          ("REPORT", result.report)):
            if path:
                outputs[key] = str(path)
        return outputs

    def postProcessAlgorithm(self, context: QgsProcessingContext,  # noqa: N802
                             feedback: QgsProcessingFeedback) -> dict:
        """Main thread: style the layers Processing loads when the toolbox run ends."""
        for key, path in self.destinations.items():
            if path and context.willLoadLayerOnCompletion(path):
                style = "CLASSES" if key == "OUTPUT" and self.classes else key
                context.layerToLoadOnCompletionDetails(path).setPostProcessor(StylePostProcessor.for_output(style))
        return {}


class MapFloodExtent(FloodSarAlgorithm):
    """Deep learning flood map (the bundled model or a custom FloodSAR ONNX/PyTorch model)."""

    METHOD = "model"

    def name(self) -> str:
        return "map_flood_extent"

    def displayName(self) -> str:  # noqa: N802
        return "Map flood extent (deep learning)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Maps open flood water in a Sentinel-1 GRD raster (VV and VH backscatter, dB or linear) with a "
                "segmentation model: the bundled FloodSAR model unless you choose another FloodSAR .onnx file. "
                "Outputs a water mask (1 water, 0 dry, 255 nodata) and optionally the water probability and "
                "flood polygons. Tile size, overlap and batch size default to the model's own values (0).")

    def add_method_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", "Model file (empty = bundled FloodSAR model)", QgsProcessingParameterFile.File,
            fileFilter="FloodSAR models (*.onnx *.pt2)", optional=True))
        self.addParameter(QgsProcessingParameterEnum("DEVICE", "Device", list(DEVICES), defaultValue=0, optional=True))
        self._advanced(QgsProcessingParameterEnum("BACKEND", "Backend", list(BACKENDS), defaultValue=0,
                                                  optional=True))
        self._advanced(QgsProcessingParameterBoolean(
            "TRUST_MODEL", "Trust this PyTorch model file (a .pt2 can run programs when opened)", False, True))
        for key, label in (("TILE", "Tile size in pixels (0 = model default)"),
                           ("BATCH", "Tiles per batch (0 = default)")):
            self._advanced(QgsProcessingParameterNumber(key, label, QgsProcessingParameterNumber.Integer,
                                                        0, True, 0))
        # 0 is a valid overlap, so "not set" (None) means the model's default.
        self._advanced(QgsProcessingParameterNumber("OVERLAP", "Tile overlap in pixels (empty = model default)",
                                                    QgsProcessingParameterNumber.Integer, None, True, 0))

    def add_method_outputs(self) -> None:
        self.addParameter(QgsProcessingParameterRasterDestination(
            "PROBABILITIES", "Water probability", optional=True, createByDefault=False))

    def method_options(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Any]:
        return {
            "model": self.parameterAsFile(parameters, "MODEL", context) or None,
            "device": DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)],
            "backend": BACKENDS[self.parameterAsEnum(parameters, "BACKEND", context)],
            "tile": self.parameterAsInt(parameters, "TILE", context) or None,
            "overlap": (None if parameters.get("OVERLAP") in (None, "")
                        else self.parameterAsInt(parameters, "OVERLAP", context)),
            "trust_model": self.parameterAsBoolean(parameters, "TRUST_MODEL", context),
            "batch": self.parameterAsInt(parameters, "BATCH", context) or None,
            "probabilities": self.parameterAsOutputLayer(parameters, "PROBABILITIES", context) or None,
        }


class OtsuWater(FloodSarAlgorithm):
    """Baseline: Otsu threshold on the backscatter, no model needed."""

    METHOD = "otsu"

    def name(self) -> str:
        return "otsu_water"

    def displayName(self) -> str:  # noqa: N802
        return "Map water with an Otsu threshold (baseline)"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Baseline water map from Sentinel-1 backscatter with an automatic Otsu threshold; needs no model "
                "and no ONNX Runtime. Outputs a water mask (1 water, 0 dry, 255 nodata) and optionally flood "
                "polygons.")
