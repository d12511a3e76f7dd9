"""The Processing toolbox as an analyst uses it, in real QGIS: the algorithm dialog and the batch dialog.

Both dialogs are QGIS's own (processing.gui): the single run goes through their
QgsProcessingAlgRunnerTask and result handling, the batch run through the batch
dialog's row loop, with "Open output file after running" ticked as it is by default.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsLayerTreeRegistryBridge, QgsProcessingOutputLayerDefinition, QgsProject
from qgis.PyQt.QtWidgets import QTextEdit

from helpers.qgis_panel import add_layer, run_algorithm_dialog

ERRORS = ("not correctly generated", "Traceback", "has been deleted", "Error")


@pytest.fixture
def toolbox(qapp):
    """The plugin's provider as the desktop registers it; the project is emptied afterwards."""
    import floodsar

    plugin = floodsar.classFactory(None)
    plugin.initProcessing()
    yield
    plugin.unload()
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


@pytest.fixture
def message_log(qapp):
    """Everything QGIS logs to the Log Messages panel during the test."""
    messages: list[str] = []

    def keep(message: str, tag: str, level) -> None:
        messages.append(f"{tag}: {message}")

    QgsApplication.messageLog().messageReceived.connect(keep)
    yield messages
    QgsApplication.messageLog().messageReceived.disconnect(keep)


def run_batch_dialog(algorithm_id: str, rows: list[dict]) -> str:
    """Run ``rows`` (parameter values per row) from the toolbox's batch dialog; the log."""
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.tools import dataobjects

    dialog = BatchAlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(algorithm_id))
    panel = dialog.mainWidget()
    context = dataobjects.createContext()
    while panel.batchRowCount() < len(rows):
        panel.addRow()
    for row, values in enumerate(rows):
        for name, value in values.items():
            column = panel.parameter_to_column[name]
            wrapper = panel.wrappers[row][column]
            if wrapper is None:  # an output: a file name cell
                panel.tblParameters.cellWidget(row + 1, column).setValue(str(value))
            else:
                wrapper.setParameterValue(value, context)
    panel.checkLoadLayersOnCompletion.setChecked(True)
    dialog.runAlgorithm()  # QGIS 3.22 runs the rows one after the other on the main thread
    log = dialog.findChild(QTextEdit, "txtLog").toPlainText()
    dialog.close()
    return log


def top_layers(count: int) -> list[str]:
    return [node.layer().name() for node in QgsProject.instance().layerTreeRoot().findLayers()[:count]]


def test_dialog_run_adds_styled_layers_on_top(toolbox, qtbot, message_log, spain_chip, water_model, tmp_path):
    scene = add_layer(spain_chip, "Spain")
    add_layer(spain_chip, "Below")  # the user's selection is this lower layer: QGIS inserts new layers there
    project = QgsProject.instance()
    project.layerTreeRegistryBridge().setLayerInsertionPoint(
        QgsLayerTreeRegistryBridge.InsertionPoint(project.layerTreeRoot(), 2))
    log = run_algorithm_dialog("floodsar:map_flood_extent", {
        "INPUT": scene.id(), "MODEL": str(water_model), "DEVICE": 1, "OUTPUT": str(tmp_path / "mask.tif"),
        "PROBABILITIES": str(tmp_path / "probability.tif"), "VECTOR": str(tmp_path / "polygons.gpkg")}, qtbot)
    project.layerTreeRegistryBridge().setLayerInsertionPoint(
        QgsLayerTreeRegistryBridge.InsertionPoint(project.layerTreeRoot(), 0))

    assert not [error for error in ERRORS if error in log], log
    assert not [m for m in message_log if "Traceback" in m]
    polygons, mask, probability = (project.mapLayer(node.layerId())
                                   for node in project.layerTreeRoot().findLayers()[:3])
    assert mask.name().startswith("Spain model ") and mask.name().endswith(" flood water")
    assert polygons.name() == mask.name().replace("flood water", "flood polygons")
    assert probability.name() == mask.name().replace("flood water", "water probability")
    assert Path(mask.source()) == tmp_path / "mask.tif"
    assert mask.renderer().type() == "paletted"
    assert [(c.value, c.label) for c in mask.renderer().classes()] == [(0, "Dry"), (1, "Water")]
    assert probability.renderer().type() == "singlebandpseudocolor"
    assert polygons.featureCount() > 0 and polygons.renderer().symbol().color().alpha() < 255


def test_repeated_and_otsu_dialog_runs_get_distinct_names(toolbox, qtbot, spain_chip, water_model, tmp_path):
    scene = add_layer(spain_chip, "Spain")
    for i, (algorithm, extra) in enumerate((("floodsar:map_flood_extent", {"MODEL": str(water_model)}),
                                            ("floodsar:map_flood_extent", {"MODEL": str(water_model)}),
                                            ("floodsar:otsu_water", {}))):
        log = run_algorithm_dialog(algorithm, {"INPUT": scene.id(), "OUTPUT": str(tmp_path / f"{i}.tif"),
                                               **extra}, qtbot)
        assert "not correctly generated" not in log
    names = [layer.name() for layer in QgsProject.instance().mapLayers().values() if layer.name() != "Spain"]
    assert len(names) == len(set(names)) == 3
    assert sum(" Otsu " in name for name in names) == 1 and sum(" model " in name for name in names) == 2


def test_batch_rows_load_styled_distinct_layers_without_errors(toolbox, message_log, real_data, tmp_path):
    chips = real_data / "sen1floods11" / "S1Hand"
    scenes = ["Spain_7370579_S1Hand", "India_900498_S1Hand", "Spain_7370579_S1Hand"]
    log = run_batch_dialog("floodsar:otsu_water", [
        {"INPUT": str(chips / f"{scene}.tif"), "OUTPUT": tmp_path / f"row{row}.tif", "MIN_AREA_M2": 0.0}
        for row, scene in enumerate(scenes)])
    assert log.count("correctly executed") == 3
    assert not [error for error in ERRORS if error in log], log
    assert not [m for m in message_log if "Traceback" in m or "deleted" in m]
    masks = {Path(layer.source()).name: layer for layer in QgsProject.instance().mapLayers().values()}
    assert sorted(masks) == ["row0.tif", "row1.tif", "row2.tif"]
    names = [layer.name() for layer in masks.values()]
    assert len(set(names)) == 3
    for row, scene in enumerate(scenes):
        layer = masks[f"row{row}.tif"]
        assert layer.name().startswith(f"{scene} Otsu ") and "flood water" in layer.name()
        assert [c.value for c in layer.renderer().classes()] == [0, 1]  # the style, not the file's 256 colours


def test_batch_optional_outputs_left_empty_and_filled(toolbox, message_log, spain_chip, tmp_path):
    log = run_batch_dialog("floodsar:otsu_water", [
        {"INPUT": str(spain_chip), "OUTPUT": tmp_path / "a.tif"},
        {"INPUT": str(spain_chip), "OUTPUT": tmp_path / "b.tif", "VECTOR": tmp_path / "b.gpkg"}])
    assert not [error for error in ERRORS if error in log], log
    loaded = sorted(Path(layer.source().split("|")[0]).name for layer in QgsProject.instance().mapLayers().values())
    assert loaded == ["a.tif", "b.gpkg", "b.tif"]


def test_temporary_outputs_from_the_dialog_load(toolbox, qtbot, spain_chip):
    scene = add_layer(spain_chip, "Spain")
    log = run_algorithm_dialog("floodsar:otsu_water", {
        "INPUT": scene.id(), "OUTPUT": QgsProcessingOutputLayerDefinition("TEMPORARY_OUTPUT")}, qtbot)
    assert "not correctly generated" not in log
    [result] = [layer for layer in QgsProject.instance().mapLayers().values() if layer.name() != "Spain"]
    assert result.name().startswith("Spain Otsu ") and result.renderer().type() == "paletted"
