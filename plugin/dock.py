"""The FloodSAR dock panel: pick layers and options, run the Processing algorithm in the background.

The panel builds Processing parameters and runs ``floodsar:map_flood_extent`` or
``floodsar:otsu_water`` through :class:`QgsProcessingAlgRunnerTask` (the same code
path as the toolbox); layers are added in the task's ``executed`` signal, which
QGIS emits on the main thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (Qgis, QgsApplication, QgsMapLayerProxyModel, QgsProcessing, QgsProcessingAlgRunnerTask,
                       QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsRasterLayer)
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox, QgsMessageBar
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
                                 QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from ..engine.backends import DEVICES
from ..engine.errors import FloodSarError
from ..engine.models import DEFAULT_MODEL
from ..engine.sentinel1 import open_sentinel1
from .dependencies import gpu_status
from .layers import add_result_layers, layer_path

METHODS = (("model", "floodsar:map_flood_extent", "Deep learning model"),
           ("otsu", "floodsar:otsu_water", "Otsu threshold (baseline, no model)"))


class ErrorCollectingFeedback(QgsProcessingFeedback):
    """Processing feedback that remembers the errors it was given (to show them without a traceback)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803
        self.errors.append(error)
        super().reportError(error, fatalError)


class FloodSarDock(QgsDockWidget):
    """Dock panel that maps flood water from the chosen Sentinel-1 layer(s)."""

    def __init__(self, message_bar: QgsMessageBar, parent: QWidget | None = None) -> None:
        super().__init__("FloodSAR", parent)
        self.setObjectName("FloodSarDock")
        self.message_bar = message_bar
        self.task: QgsProcessingAlgRunnerTask | None = None
        self._build()
        self.update_input_info()
        self.update_method()

    # ---- widgets -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)

        inputs = QGroupBox("Sentinel-1 input")
        form = QFormLayout(inputs)
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.separate_vh = QCheckBox("VV and VH are separate layers")
        self.vh_combo = QgsMapLayerComboBox()
        self.vh_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.input_info = QLabel()
        self.input_info.setWordWrap(True)
        self.input_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Layer (VV + VH)", self.layer_combo)
        form.addRow(self.separate_vh)
        form.addRow("VH layer", self.vh_combo)
        form.addRow(self.input_info)
        layout.addWidget(inputs)

        method = QGroupBox("Method")
        form = QFormLayout(method)
        self.method_combo = QComboBox()
        for key, _alg, label in METHODS:
            self.method_combo.addItem(label, key)
        self.model_file = QgsFileWidget()
        self.model_file.setFilter("FloodSAR ONNX model (*.onnx)")
        self.model_file.lineEdit().setPlaceholderText(
            "Bundled FloodSAR model" if DEFAULT_MODEL.is_file() else "Choose a FloodSAR .onnx model")
        if not DEFAULT_MODEL.is_file():  # nothing to run the model method with until the user picks a file
            self.method_combo.setCurrentIndex(self.method_combo.findData("otsu"))
        self.device_combo = QComboBox()
        self.device_info = QLabel()
        self.device_info.setWordWrap(True)
        form.addRow("Method", self.method_combo)
        form.addRow("Model", self.model_file)
        form.addRow("Device", self.device_combo)
        form.addRow(self.device_info)
        layout.addWidget(method)

        self.advanced = QgsCollapsibleGroupBox("Advanced")
        self.advanced.setCollapsed(True)
        form = QFormLayout(self.advanced)
        self.tile_spin, self.overlap_spin, self.batch_spin = (self._spin(4096), self._spin(1024), self._spin(256))
        form.addRow("Tile size (px)", self.tile_spin)
        form.addRow("Overlap (px)", self.overlap_spin)
        form.addRow("Batch size", self.batch_spin)
        layout.addWidget(self.advanced)

        self.flood_box = QgsCollapsibleGroupBox("Flood, not just water (optional)")
        self.flood_box.setCollapsed(True)
        form = QFormLayout(self.flood_box)
        self.pre_combo = QgsMapLayerComboBox()
        self.pre_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.pre_combo.setAllowEmptyLayer(True)
        self.pre_combo.setLayer(None)
        self.flood_files = {key: QgsFileWidget() for key in ("REFERENCE_WATER", "HAND", "DEM")}
        form.addRow("Pre-flood image", self.pre_combo)
        form.addRow("Reference water", self.flood_files["REFERENCE_WATER"])
        form.addRow("HAND (m)", self.flood_files["HAND"])
        form.addRow("DEM (m)", self.flood_files["DEM"])
        layout.addWidget(self.flood_box)

        outputs = QGroupBox("Outputs")
        form = QFormLayout(outputs)
        self.output_file = QgsFileWidget()
        self.output_file.setStorageMode(QgsFileWidget.SaveFile)
        self.output_file.setFilter("GeoTIFF (*.tif)")
        self.output_file.lineEdit().setPlaceholderText("[Save to temporary file]")
        self.probability_check = QCheckBox("Water probability")
        self.polygons_check = QCheckBox("Flood polygons")
        form.addRow("Water mask", self.output_file)
        form.addRow(self.probability_check)
        form.addRow(self.polygons_check)
        layout.addWidget(outputs)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.layer_combo.layerChanged.connect(self.update_input_info)
        self.vh_combo.layerChanged.connect(self.update_input_info)
        self.separate_vh.toggled.connect(self.update_input_info)
        self.method_combo.currentIndexChanged.connect(self.update_method)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    @staticmethod
    def _spin(maximum: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(0, maximum)
        spin.setSpecialValueText("model default")
        return spin

    # ---- state ---------------------------------------------------------------------------------------------
    def input_layers(self) -> list[QgsRasterLayer]:
        """The chosen input layer(s): [S1] or [VV, VH]."""
        layers = [self.layer_combo.currentLayer()]
        if self.separate_vh.isChecked():
            layers.append(self.vh_combo.currentLayer())
        return [layer for layer in layers if layer is not None]

    def update_input_info(self) -> None:
        """Show the bands and units the engine detects in the chosen layer(s)."""
        self.vh_combo.setEnabled(self.separate_vh.isChecked())
        paths = [layer_path(layer) for layer in self.input_layers()]
        if not paths:
            self.input_info.setText("Add a Sentinel-1 raster (VV + VH, dB or linear) to the project.")
            return
        if None in paths:
            self.input_info.setText("The layer is not a raster file; save it as a GeoTIFF first.")
            return
        try:
            with open_sentinel1(paths, io="gdal") as source:
                description = "\n".join(line for line in source.describe().splitlines()
                                        if not line.startswith("Files:"))
        except FloodSarError as exc:
            description = f"<span style='color:#b00020'>{exc}</span>"
        self.input_info.setText(description)

    def method(self) -> str:
        return self.method_combo.currentData()

    def update_method(self) -> None:
        """Model and device options only apply to the model method."""
        is_model = self.method() == "model"
        for widget in (self.model_file, self.device_combo, self.advanced, self.probability_check):
            widget.setEnabled(is_model)
        self.device_combo.clear()
        status = gpu_status()
        self.device_combo.addItem(f"Auto ({'GPU' if status.available else 'CPU'})", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.addItem("GPU" if status.available else "GPU (not available)", "cuda")
        self.device_combo.model().item(2).setEnabled(status.available)
        self.device_info.setText(status.description)

    def parameters(self) -> dict[str, Any]:
        """Processing parameters for the chosen algorithm."""
        layers = self.input_layers()
        mask = self.output_file.filePath() or QgsProcessing.TEMPORARY_OUTPUT

        def sibling(suffix: str) -> str:
            if mask == QgsProcessing.TEMPORARY_OUTPUT:
                return QgsProcessing.TEMPORARY_OUTPUT
            return str(Path(mask).with_name(Path(mask).stem + suffix))

        params: dict[str, Any] = {"INPUT": layers[0].id() if layers else None, "OUTPUT": mask}
        if len(layers) > 1:
            params["VH"] = layers[1].id()
        if self.pre_combo.currentLayer() is not None:
            params["PRE"] = self.pre_combo.currentLayer().id()
        params.update({key: widget.filePath() for key, widget in self.flood_files.items() if widget.filePath()})
        if self.polygons_check.isChecked():
            params["VECTOR"] = sibling("_polygons.gpkg")
        if self.method() == "model":
            params.update(MODEL=self.model_file.filePath(), DEVICE=DEVICES.index(self.device_combo.currentData()),
                          TILE=self.tile_spin.value(), OVERLAP=self.overlap_spin.value() or None,  # 0 shows "model default"
                          BATCH=self.batch_spin.value())
            if self.probability_check.isChecked():
                params["PROBABILITIES"] = sibling("_probability.tif")
        return params

    # ---- running -------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Start the algorithm in a background task."""
        if self.task is not None:
            return
        layers = self.input_layers()
        if not layers:
            self.show_error("Choose a Sentinel-1 layer first.")
            return
        algorithm_id = dict((key, alg) for key, alg, _label in METHODS)[self.method()]
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        self.layer_name = layers[0].name()
        self.context = QgsProcessingContext()
        self.context.setProject(QgsProject.instance())
        self.feedback = ErrorCollectingFeedback()
        task = QgsProcessingAlgRunnerTask(algorithm, self.parameters(), self.context, self.feedback)
        if self.feedback.errors:  # the algorithm refused the inputs while preparing (main thread)
            self.show_error(self.feedback.errors[-1])
            return
        self.task = task
        self.task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        self.task.executed.connect(self.finished)
        self.set_running(True)
        QgsApplication.taskManager().addTask(self.task)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setValue(0)

    def finished(self, successful: bool, results: dict) -> None:
        """Main thread: add the styled layers, or explain what went wrong."""
        self.task = None
        self.set_running(False)
        if self.feedback.isCanceled():
            self.message_bar.pushMessage("FloodSAR", "Cancelled; no output was written.", Qgis.Info, 5)
        elif not successful:
            self.show_error(self.feedback.errors[-1] if self.feedback.errors else
                            "The run failed; see the Log Messages panel (Processing tab).")
        else:
            self.progress.setValue(100)
            add_result_layers(results, self.layer_name)
            found = ("Flooded", results["FLOOD_AREA_KM2"]) if results.get("FLOOD_AREA_KM2") is not None else \
                ("Water", results["WATER_AREA_KM2"])
            self.message_bar.pushMessage(
                "FloodSAR", f"{found[0]}: {found[1]:.2f} km² of {results['VALID_AREA_KM2']:.2f} km² "
                f"mapped in {results['SECONDS']:.1f} s ({results['BACKEND']}).", Qgis.Success, 10)

    def show_error(self, message: str) -> None:
        """One clear line in the message bar; a Python traceback is reduced to its last line."""
        lines = message.strip().splitlines() or ["The run failed."]
        if len(lines) > 1:
            message = f"Unexpected error: {lines[-1]} (details: Log Messages panel, Processing tab)."
        self.message_bar.pushMessage("FloodSAR", message, Qgis.Critical, 0)
