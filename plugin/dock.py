"""The FloodSAR dock panel: pick layers and options, run the Processing algorithm in the background.

The panel builds Processing parameters and runs ``floodsar:map_flood_extent`` or
``floodsar:otsu_water`` through :class:`QgsProcessingAlgRunnerTask` (the same code
path as the toolbox); layers are added in the task's ``executed`` signal, which
QGIS emits on the main thread.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qgis.core import (Qgis, QgsApplication, QgsMapLayerProxyModel, QgsProcessing, QgsProcessingAlgRunnerTask,
                       QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsRasterLayer,
                       QgsReferencedRectangle)
from qgis.gui import (QgsCollapsibleGroupBox, QgsDockWidget, QgsDoubleSpinBox, QgsExtentWidget, QgsFileWidget,
                      QgsMapCanvas, QgsMapLayerComboBox, QgsMessageBar, QgsMessageBarItem, QgsRasterBandComboBox)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                                 QMessageBox, QProgressBar, QPushButton, QScrollArea, QSizePolicy, QSpinBox,
                                 QToolButton, QVBoxLayout, QWidget)

from ..engine.choices import Backend, Device, values
from ..engine.errors import FloodSarError
from ..engine.models import DEFAULT_MODEL
from ..engine.raster_io import is_virtual
from .algorithms import PRODUCT_FILTER, time_left
from .dependencies import gpu_status
from .inputs import InputSummary, layer_polarisation, partner, product_name
from .layers import add_result_layers, layer_path, run_label
from .model_card import read_card
from .parameters import (BACKEND, DEM, EXTENT, FLOOD_AREA_KM2, HAND, MIN_AREA_M2, OUTPUT, PRE, PROBABILITIES, PRODUCT,
                         REFERENCE_WATER, THRESHOLD, TRUST_MODEL, VECTOR, VH, WATER_AREA_KM2)

#: Where the input comes from: a layer of the project, or a product file, folder or URL.
SOURCES = (("layer", "A layer of the project"),
           ("product", "A product as downloaded (SAFE, HyP3, SNAP .dim, zip, URL)"))
METHODS = (("model", "floodsar:map_flood_extent", "Deep learning model"),
           ("otsu", "floodsar:otsu_water", "Otsu threshold (baseline, no model)"))
#: Threshold spin box per method: (range, decimals, step, suffix, default, tooltip).
THRESHOLDS = {
    "model": ((0.01, 0.99), 2, 0.05, "", 0.5, "Water probability above which a pixel is water."),
    "otsu": ((-40.0, 0.0), 1, 0.5, " dB", -18.0, "VH backscatter below which a pixel is water."),
}
WARNING_STYLE = "color:#a15c00"
ERROR_STYLE = "color:#b00020"


class ErrorCollectingFeedback(QgsProcessingFeedback):
    """Processing feedback that remembers the errors and warnings it was given (to show them in the panel)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.warnings.append(warning)
        super().pushWarning(warning)


def form(group: QWidget) -> QFormLayout:
    """A form layout that wraps long labels above their field, so the panel never needs to scroll sideways."""
    layout = QFormLayout(group)
    layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return layout


def narrow(combo: QComboBox) -> QComboBox:
    """Let a combo box shrink below its longest entry (long layer names would widen the panel)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return combo


def note() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class FloodSarDock(QgsDockWidget):
    """Dock panel that maps flood water from the chosen Sentinel-1 layer(s)."""

    def __init__(self, message_bar: QgsMessageBar, parent: QWidget | None = None,
                 canvas: QgsMapCanvas | None = None) -> None:
        super().__init__("FloodSAR", parent)
        self.setObjectName("FloodSarDock")
        self.message_bar = message_bar
        self.messages: list[QgsMessageBarItem] = []
        self.task: QgsProcessingAlgRunnerTask | None = None
        self._pairing = False
        self._build(canvas)
        self.update_input_info()
        self.update_method()

    # ---- widgets -------------------------------------------------------------------------------------------
    def _build(self, canvas: QgsMapCanvas | None) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._input_group())
        layout.addWidget(self._method_group())
        layout.addWidget(self._flood_group())
        area = QGroupBox("Area to map")
        self.area = QgsExtentWidget(None, QgsExtentWidget.CondensedStyle)
        self.area.setNullValueAllowed(True, "Whole raster")
        self.area.clear()
        self.area.setToolTip("Empty: the whole raster. Or the map canvas extent, a layer's extent (e.g. an "
                             "area-of-interest polygon layer) or an area drawn on the map (button at the right).")
        if canvas is not None:
            self.area.setMapCanvas(canvas)
        QVBoxLayout(area).addWidget(self.area)
        layout.addWidget(area)
        layout.addWidget(self._advanced_group())
        layout.addWidget(self._output_group())

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
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.source_combo.currentIndexChanged.connect(self.update_input_info)
        self.product_file.fileChanged.connect(self.product_changed)
        self.product_file.lineEdit().editingFinished.connect(self.update_input_info)
        self.product_folder_button.clicked.connect(self.choose_product_folder)
        self.layer_combo.layerChanged.connect(self.layer_changed)
        QgsProject.instance().layersAdded.connect(self.layer_changed)  # a partner may arrive after the layer
        self.vh_combo.layerChanged.connect(self.update_input_info)
        self.separate_vh.toggled.connect(self.update_input_info)
        self.vv_band.bandChanged.connect(self.update_input_info)
        self.vh_band.bandChanged.connect(self.update_input_info)
        self.flood_files[DEM].fileChanged.connect(self.update_input_info)  # a GRD is then terrain-corrected
        self.method_combo.currentIndexChanged.connect(self.update_method)
        self.model_file.fileChanged.connect(self.update_model_card)
        self.trust_check.toggled.connect(self.update_model_card)
        self.card_button.clicked.connect(self.show_model_card)
        self.threshold_check.toggled.connect(self.threshold_spin.setEnabled)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    def _input_group(self) -> QGroupBox:
        group = QGroupBox("Sentinel-1 input")
        layout = QVBoxLayout(group)
        self.source_combo = narrow(QComboBox())
        for key, label in SOURCES:
            self.source_combo.addItem(label, key)
        self.source_combo.setToolTip("A raster layer of the project, or a Sentinel-1 product as downloaded (GRD "
                                     "SAFE, HyP3 RTC, SNAP .dim, zip, URL), calibrated and geocoded as needed.")
        layout.addWidget(self.source_combo)
        self.layer_box = QWidget()
        rows = form(self.layer_box)
        rows.setContentsMargins(0, 0, 0, 0)
        self.layer_combo = narrow(QgsMapLayerComboBox())
        self.layer_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.layer_combo.setToolTip("A Sentinel-1 GRD layer with VV and VH bands (dB or linear), or the VV layer.")
        self.separate_vh = QCheckBox("VH is a separate layer")
        self.separate_vh.setToolTip("Ticked automatically when a layer named …_VV has a …_VH partner.")
        self.vh_combo = narrow(QgsMapLayerComboBox())
        self.vh_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.vv_band, self.vh_band = QgsRasterBandComboBox(), QgsRasterBandComboBox()
        for combo, name in ((self.vv_band, "VV"), (self.vh_band, VH)):
            combo.setShowNotSetOption(True, "detect")
            combo.setToolTip(f"The band holding {name}; 'detect' reads the band descriptions (VV, VH), else "
                             "takes Sen1Floods11's order (band 1 VV, band 2 VH).")
            narrow(combo)
        rows.addRow("Layer (VV + VH)", self.layer_combo)
        rows.addRow(self.separate_vh)
        rows.addRow("VH layer", self.vh_combo)
        rows.addRow("VV band", self.vv_band)
        rows.addRow("VH band", self.vh_band)
        layout.addWidget(self.layer_box)
        self.product_box = QWidget()
        product = QHBoxLayout(self.product_box)
        product.setContentsMargins(0, 0, 0, 0)
        self.product_file = QgsFileWidget()
        self.product_file.setFilter(PRODUCT_FILTER)
        self.product_file.setDialogTitle("Sentinel-1 product")
        self.product_file.lineEdit().setPlaceholderText(".zip, manifest.safe, .dim, folder or https:// URL")
        self.product_file.setToolTip("A GRD SAFE .zip or its manifest.safe, a HyP3 RTC .zip, a SNAP .dim, a zip of "
                                     "GeoTIFFs, or a GeoTIFF's URL (typed or pasted).")
        self.product_folder_button = QToolButton()
        self.product_folder_button.setText("Folder…")
        self.product_folder_button.setToolTip("Choose a product folder: a GRD .SAFE folder or an unzipped HyP3 RTC "
                                              "product.")
        product.addWidget(self.product_file, 1)
        product.addWidget(self.product_folder_button)
        layout.addWidget(self.product_box)
        self.input_info = note()
        self.input_warnings = note()
        self.input_warnings.setStyleSheet(WARNING_STYLE)
        layout.addWidget(self.input_info)
        layout.addWidget(self.input_warnings)
        return group

    def _method_group(self) -> QGroupBox:
        group = QGroupBox("Method")
        rows = form(group)
        self.method_combo = narrow(QComboBox())
        for key, _alg, label in METHODS:
            self.method_combo.addItem(label, key)
        self.method_combo.setToolTip("The deep learning model, or the Otsu threshold on VH (no model needed).")
        self.model_file = QgsFileWidget()
        self.model_file.setFilter("FloodSAR model (*.onnx *.pt2)")
        self.model_file.setToolTip("A FloodSAR .onnx model (ONNX Runtime) or .pt2 model (PyTorch); empty uses the "
                                   "bundled model.")
        self.trust_check = QCheckBox("Trust this PyTorch model file")
        self.trust_check.setToolTip("A .pt2 file can run programs on this computer when it is opened: tick only "
                                    "for a file you made or whose source you trust (the bundled one needs no tick).")
        self.trust_check.setVisible(False)
        self.model_file.lineEdit().setPlaceholderText(
            "Bundled FloodSAR model" if DEFAULT_MODEL.is_file() else "Choose a FloodSAR .onnx model")
        if not DEFAULT_MODEL.is_file():  # nothing to run the model method with until the user picks a file
            self.method_combo.setCurrentIndex(self.method_combo.findData("otsu"))
        self.model_limits = note()
        self.model_limits.setStyleSheet(WARNING_STYLE)
        self.card_button = QPushButton("Model card…")
        self.card_button.setToolTip("Training data, licence and known failure modes of the model.")
        self.device_combo = narrow(QComboBox())
        self.device_combo.setToolTip("Where the model runs; Auto uses a GPU when ONNX Runtime can.")
        self.device_info = note()
        self.threshold_check = QCheckBox("Own threshold")
        self.threshold_spin = QgsDoubleSpinBox()
        self.threshold_spin.setEnabled(False)
        threshold = QHBoxLayout()
        threshold.addWidget(self.threshold_check)
        threshold.addWidget(self.threshold_spin, 1)
        rows.addRow("Method", self.method_combo)
        rows.addRow("Model", self.model_file)
        rows.addRow(self.trust_check)
        rows.addRow(self.model_limits)
        rows.addRow(self.card_button)
        rows.addRow("Device", self.device_combo)
        rows.addRow(self.device_info)
        rows.addRow("Threshold", threshold)
        return group

    def _flood_group(self) -> QgsCollapsibleGroupBox:
        self.flood_box = QgsCollapsibleGroupBox("Flood, not just water (optional)")
        self.flood_box.setCollapsed(True)
        rows = form(self.flood_box)
        self.pre_combo = narrow(QgsMapLayerComboBox())
        self.pre_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.pre_combo.setAllowEmptyLayer(True)
        self.pre_combo.setLayer(None)
        self.pre_combo.setToolTip("A pre-flood image of the same area: flood is water now that was not water then.")
        self.flood_files = {key: QgsFileWidget() for key in (REFERENCE_WATER, HAND, DEM)}
        self.flood_files[REFERENCE_WATER].setToolTip("Permanent water (JRC, a 0/1 mask or polygons), kept apart "
                                                       "from flood.")
        self.flood_files[HAND].setToolTip("Height above nearest drainage (m): high ground is excluded.")
        self.flood_files[DEM].setToolTip("Elevation (m): steep slopes are excluded; a GRD product is also "
                                         "terrain-corrected with it.")
        rows.addRow("Pre-flood image", self.pre_combo)
        rows.addRow("Reference water", self.flood_files[REFERENCE_WATER])
        rows.addRow("HAND (m)", self.flood_files[HAND])
        rows.addRow("DEM (m)", self.flood_files[DEM])
        return self.flood_box

    def _advanced_group(self) -> QgsCollapsibleGroupBox:
        self.advanced = QgsCollapsibleGroupBox("Advanced")
        self.advanced.setCollapsed(True)
        rows = form(self.advanced)
        self.tile_spin, self.overlap_spin, self.batch_spin = (self._spin(4096), self._spin(1024), self._spin(256))
        self.tile_spin.setToolTip("Tile size in pixels; 'model default' uses the model's own.")
        self.overlap_spin.setToolTip("Context pixels around each tile; 'model default' uses the model's own.")
        self.batch_spin.setToolTip("Tiles per batch; 'model default' is 1 on CPU, 4 on GPU.")
        rows.addRow("Tile size (px)", self.tile_spin)
        rows.addRow("Overlap (px)", self.overlap_spin)
        rows.addRow("Batch size", self.batch_spin)
        return self.advanced

    def _output_group(self) -> QGroupBox:
        group = QGroupBox("Outputs")
        rows = form(group)
        self.output_file = QgsFileWidget()
        self.output_file.setStorageMode(QgsFileWidget.SaveFile)
        self.output_file.setFilter("GeoTIFF (*.tif)")
        self.output_file.lineEdit().setPlaceholderText("[Save to temporary file]")
        self.output_file.setToolTip("The water mask GeoTIFF (1 water, 0 dry, 255 nodata); empty: a temporary file.")
        self.min_area = QgsDoubleSpinBox()
        self.min_area.setRange(0.0, 1e7)
        self.min_area.setDecimals(0)
        self.min_area.setSingleStep(500.0)
        self.min_area.setSuffix(" m²")
        self.min_area.setSpecialValueText("keep every pixel")
        self.min_area.setToolTip("Minimum mapping unit: water and dry patches smaller than this are merged into "
                                 "their surroundings (CEMS rapid mapping uses 2,500 m²).")
        self.probability_check = QCheckBox("Water probability")
        self.probability_check.setToolTip("Also write the model's water probability (0..1) beside the mask.")
        self.polygons_check = QCheckBox("Flood polygons")
        self.polygons_check.setToolTip("Also write the water as polygons with their area (GeoPackage).")
        rows.addRow("Water mask", self.output_file)
        rows.addRow("Minimum area", self.min_area)
        rows.addRow(self.probability_check)
        rows.addRow(self.polygons_check)
        return group

    @staticmethod
    def _spin(maximum: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(0, maximum)
        spin.setSpecialValueText("model default")
        return spin

    # ---- state ---------------------------------------------------------------------------------------------
    def reads_product(self) -> bool:
        return self.source_combo.currentData() == "product"

    def product_path(self) -> str:
        """The chosen product file, folder or URL ('' when none, or when a layer is the input)."""
        return self.product_file.filePath().strip() if self.reads_product() else ""

    def input_layers(self) -> list[QgsRasterLayer]:
        """The chosen input layer(s): [S1] or [VV, VH] ([] when a product is the input)."""
        if self.reads_product():
            return []
        layers = [self.layer_combo.currentLayer()]
        if self.separate_vh.isChecked():
            layers.append(self.vh_combo.currentLayer())
        return [layer for layer in layers if layer is not None]

    def layer_changed(self) -> None:
        """Pair a single-polarisation layer with its VV/VH partner in the project, then describe the input."""
        layer = self.layer_combo.currentLayer()
        if layer is not None and not self._pairing:
            rasters = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsRasterLayer)]
            other = partner(layer, rasters)
            if other is not None:
                self._pairing = True
                vv, vh = (layer, other) if layer_polarisation(layer) == "VV" else (other, layer)
                self.layer_combo.setLayer(vv)
                self.vh_combo.setLayer(vh)
                self.separate_vh.setChecked(True)
                self._pairing = False
        self.update_input_info()

    def input_paths(self) -> list[str | None]:
        """What the engine reads: the files behind the chosen layer(s), or the product's path or URL."""
        if self.reads_product():
            return [self.product_path()] if self.product_path() else []
        return [layer_path(layer) for layer in self.input_layers()]

    def product_changed(self, path: str) -> None:
        """Describe a local product as soon as it is chosen; a URL once typing ends (not at every key)."""
        if not is_virtual(path.strip()):
            self.update_input_info()

    def choose_product_folder(self) -> None:
        """Pick a product folder (the file picker picks files: .zip, manifest.safe, .dim)."""
        folder = QFileDialog.getExistingDirectory(self, "Sentinel-1 product folder (.SAFE or HyP3)",
                                                  self.product_file.filePath())
        if folder:
            self.product_file.setFilePath(folder)

    def band(self, combo: QgsRasterBandComboBox) -> int | None:
        return combo.currentBand() if combo.currentBand() > 0 else None

    def update_input_info(self) -> None:
        """Show the bands and units the engine detects in the chosen layer(s), and what to check."""
        if self._pairing:
            return
        product = self.reads_product()
        self.layer_box.setVisible(not product)
        self.product_box.setVisible(product)
        separate = self.separate_vh.isChecked()
        self.vh_combo.setEnabled(separate)
        layers = self.input_layers()
        for combo, layer in ((self.vv_band, layers[0] if layers else None),
                             (self.vh_band, layers[-1] if layers else None)):
            if combo.layer() is not layer:
                combo.blockSignals(True)
                combo.setLayer(layer)
                combo.setBand(-1)
                combo.blockSignals(False)
        summary = InputSummary(self.input_paths(), self.band(self.vv_band), self.band(self.vh_band),
                               single_polarisation=self.method() == "otsu",
                               dem=self.flood_files[DEM].filePath() or None)
        if summary.error:
            self.input_info.setText(f"<span style='{ERROR_STYLE}'>{summary.error}</span>")
        else:
            self.input_info.setText("<br>".join(summary.lines))
        self.input_warnings.setText("\n".join(summary.warnings))
        self.input_warnings.setVisible(bool(summary.warnings))

    def method(self) -> str:
        return self.method_combo.currentData()

    def update_method(self) -> None:
        """Model and device options only apply to the model method; the threshold's meaning depends on it."""
        is_model = self.method() == "model"
        for widget in (self.model_file, self.device_combo, self.advanced, self.probability_check, self.card_button):
            widget.setEnabled(is_model)
        self.model_limits.setVisible(is_model)
        (low, high), decimals, step, suffix, default, tooltip = THRESHOLDS[self.method()]
        self.threshold_spin.setDecimals(decimals)
        self.threshold_spin.setRange(low, high)
        self.threshold_spin.setSingleStep(step)
        self.threshold_spin.setSuffix(suffix)
        self.threshold_spin.setClearValue(default)
        self.threshold_spin.setValue(default)
        self.threshold_check.setToolTip(f"{tooltip} Unticked: "
                                        f"{'the model' if is_model else 'Otsu'}'s own threshold.")
        self.refresh_dependencies()
        self.update_model_card()
        self.update_input_info()  # Otsu also takes a single polarisation

    def refresh_dependencies(self) -> None:
        """Show what ONNX Runtime can run on (call again after installing packages)."""
        self.device_combo.clear()
        status = gpu_status()
        self.device_combo.addItem(f"Auto ({'GPU' if status.available else 'CPU'})", "auto")
        self.device_combo.addItem("CPU", "cpu")
        self.device_combo.addItem("GPU" if status.available else "GPU (not available)", "cuda")
        self.device_combo.model().item(2).setEnabled(status.available)
        self.device_info.setText(status.description)

    def pytorch_model(self) -> bool:
        """Whether the chosen model file is a PyTorch .pt2 (run with the torch backend)."""
        return self.model_file.filePath().lower().endswith(".pt2")

    def update_model_card(self) -> None:
        """One line naming the model's known failure modes, under the model file."""
        self.trust_check.setVisible(self.pytorch_model())
        if self.method() != "model":
            return
        try:
            card = read_card(self.model_file.filePath(), self.trust_check.isChecked())
        except (FloodSarError, ImportError) as exc:
            self.model_limits.setText(f"Model card not readable: {exc}")
            return
        self.model_limits.setText(f"Known failure modes: {card.short_limits}." if card.failure_modes
                                  else "The model lists no known failure modes.")

    def show_model_card(self) -> None:
        try:
            text = read_card(self.model_file.filePath(), self.trust_check.isChecked()).as_html()
        except (FloodSarError, ImportError) as exc:
            text = str(exc)
        QMessageBox.information(self, "FloodSAR model card", text)

    def parameters(self) -> dict[str, Any]:
        """Processing parameters for the chosen algorithm."""
        layers = self.input_layers()
        mask = self.output_file.filePath() or QgsProcessing.TEMPORARY_OUTPUT

        def sibling(suffix: str) -> str:
            if mask == QgsProcessing.TEMPORARY_OUTPUT:
                return QgsProcessing.TEMPORARY_OUTPUT
            return str(Path(mask).with_name(Path(mask).stem + suffix))

        params: dict[str, Any] = {OUTPUT: mask, MIN_AREA_M2: self.min_area.value()}
        if self.reads_product():
            params[PRODUCT] = self.product_path()
        else:
            params.update(INPUT=layers[0].id() if layers else None, VV_BAND=self.band(self.vv_band),
                          VH_BAND=self.band(self.vh_band))
        if len(layers) > 1:
            params[VH] = layers[1].id()
        if self.area.isValid():
            params[EXTENT] = QgsReferencedRectangle(self.area.outputExtent(), self.area.outputCrs())
        if self.pre_combo.currentLayer() is not None:
            params[PRE] = self.pre_combo.currentLayer().id()
        params.update({key: widget.filePath() for key, widget in self.flood_files.items() if widget.filePath()})
        if self.threshold_check.isChecked():
            params[THRESHOLD] = self.threshold_spin.value()
        if self.polygons_check.isChecked():
            params[VECTOR] = sibling("_polygons.gpkg")
        if self.method() == "model":
            # the overlap spin box shows 0 as "model default"
            params.update(MODEL=self.model_file.filePath(), DEVICE=values(Device).index(self.device_combo.currentData()),
                          TILE=self.tile_spin.value(), OVERLAP=self.overlap_spin.value() or None,
                          BATCH=self.batch_spin.value())
            if self.pytorch_model():
                params.update({BACKEND: values(Backend).index(Backend.TORCH.value),
                               TRUST_MODEL: self.trust_check.isChecked()})
            if self.probability_check.isChecked():
                params[PROBABILITIES] = sibling("_probability.tif")
        return params

    # ---- running -------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Start the algorithm in a background task."""
        if self.task is not None:
            return
        self.clear_messages()
        layers = self.input_layers()
        if not layers and not self.product_path():
            self.notify(f"Choose a Sentinel-1 {'product' if self.reads_product() else 'layer'} first.", Qgis.Critical)
            return
        algorithm_id = dict((key, alg) for key, alg, _label in METHODS)[self.method()]
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        scene = layers[0].name() if layers else product_name(self.product_path())
        self.label = run_label(scene, self.method())
        self.context = QgsProcessingContext()
        self.context.setProject(QgsProject.instance())
        self.feedback = ErrorCollectingFeedback()
        task = QgsProcessingAlgRunnerTask(algorithm, self.parameters(), self.context, self.feedback)
        if self.feedback.errors:  # the algorithm refused the inputs while preparing (main thread)
            self.show_error(self.feedback.errors[-1])
            return
        self.task = task
        self.started = time.monotonic()
        self.task.progressChanged.connect(self.show_progress)
        self.task.executed.connect(self.finished)
        self.set_running(True)
        QgsApplication.taskManager().addTask(self.task)

    def show_progress(self, value: float) -> None:
        """The bar and, once a little is done, the time left at the pace so far."""
        self.progress.setValue(int(value))
        left = time_left(self.started, value)
        if left:
            self.progress.setFormat(f"%p% (about {left} left)")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def close_panel(self) -> None:
        """Cancel a run and stop following the project (before the plugin unloads)."""
        self.cancel()
        QgsProject.instance().layersAdded.disconnect(self.layer_changed)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")

    def finished(self, successful: bool, results: dict) -> None:
        """Main thread: add the styled layers, or explain what went wrong."""
        self.task = None
        self.set_running(False)
        if self.feedback.isCanceled():
            self.notify("Cancelled; no output was written.", Qgis.Info, 5)
        elif not successful:
            self.show_error(self.feedback.errors[-1] if self.feedback.errors else
                            "The run failed; see the Log Messages panel (Processing tab).")
        else:
            self.progress.setValue(100)
            add_result_layers(results, self.label)
            for warning in self.feedback.warnings:
                self.notify(warning, Qgis.Warning)
            found = ("Flooded", results[FLOOD_AREA_KM2]) if results.get(FLOOD_AREA_KM2) is not None else \
                ("Water", results[WATER_AREA_KM2])
            self.notify(f"{found[0]}: {found[1]:.2f} km² of {results['VALID_AREA_KM2']:.2f} km² "
                        f"mapped in {results['SECONDS']:.1f} s ({results['BACKEND']}).", Qgis.Success, 10)

    def notify(self, text: str, level: Qgis.MessageLevel, seconds: int = 0) -> None:
        """Show ``text`` in the message bar; the panel clears its messages when the next run starts."""
        item = QgsMessageBarItem("FloodSAR", text, level, seconds)
        self.message_bar.pushItem(item)
        self.messages.append(item)

    def clear_messages(self) -> None:
        """Remove this panel's messages of earlier runs that are still shown."""
        for item in self.messages:
            if not sip.isdeleted(item):
                self.message_bar.popWidget(item)
        self.messages = []

    def show_error(self, message: str) -> None:
        """One clear line in the message bar; a Python traceback is reduced to its last line."""
        lines = message.strip().splitlines() or ["The run failed."]
        if len(lines) > 1:
            message = f"Unexpected error: {lines[-1]} (details: Log Messages panel, Processing tab)."
        self.notify(message, Qgis.Critical)

