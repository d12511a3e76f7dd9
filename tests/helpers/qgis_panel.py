"""Helpers of the plugin tests that drive the FloodSAR panel or a toolbox dialog and look for the result layers."""
from __future__ import annotations

import re
from pathlib import Path

from qgis.core import QgsApplication, QgsMapLayer, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QTextEdit

RUN_TIMEOUT_MS = 60_000


def add_layer(path: Path, name: str) -> QgsRasterLayer:
    """A valid raster layer for ``path``, added to the project."""
    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def choose_method(dock, key: str) -> None:
    dock.method_combo.setCurrentIndex(dock.method_combo.findData(key))


def run_and_wait(dock, qtbot) -> None:
    """Click the panel's Run and wait until the run has ended."""
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.task is None and dock.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)


def results(scene: str, method: str, output: str = "flood water") -> list[QgsMapLayer]:
    """Result layers named '<scene> <method> HH:MM:SS <output>' (plus ' (2)'... on repeated names)."""
    pattern = re.compile(rf"{re.escape(scene)} {method} \d\d:\d\d:\d\d {output}( \(\d+\))?$")
    return [layer for layer in QgsProject.instance().mapLayers().values() if pattern.match(layer.name())]


def run_algorithm_dialog(algorithm_id: str, parameters: dict, qtbot) -> str:
    """Run ``algorithm_id`` from its toolbox dialog (background task, QGIS's result handling); the log."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    dialog = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(algorithm_id))
    dialog.setParameters(parameters)
    outputs = [name for name in ("OUTPUT", "PROBABILITIES", "VECTOR") if name in parameters]
    for name in outputs:  # as a user leaves it: "Open output file after running" ticked
        assert dialog.mainWidget().wrappers[name].customProperties()["OPEN_AFTER_RUNNING"]
    log = dialog.findChild(QTextEdit, "txtLog")
    text = []
    log.textChanged.connect(lambda: text.append(log.toPlainText()))  # the dialog closes itself on success
    dialog.runAlgorithm()
    qtbot.waitUntil(lambda: any("finished" in t or "failed" in t or "not correctly" in t for t in text[-1:]),
                    timeout=RUN_TIMEOUT_MS)
    qtbot.wait(100)
    return text[-1]
