"""The plugin in a real QGIS window: loading, the dock driving runs, cancel and bad inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qgis.core import Qgis, QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt

from helpers.models import model_metadata, save_pt2
from helpers.qgis_layers import read, water_model_expected, write_without_crs
from helpers.qgis_panel import add_layer, choose_method, results, run_and_wait

def test_plugin_loads_and_unloads_through_class_factory(iface):
    import floodsar

    plugin = floodsar.classFactory(iface)
    plugin.initGui()
    registry = QgsApplication.processingRegistry()
    assert registry.algorithmById("floodsar:map_flood_extent") is not None
    assert registry.algorithmById("floodsar:otsu_water") is not None
    assert plugin.dock.parent() is iface.mainWindow() and plugin.dock.isVisible()
    assert iface.mainWindow().dockWidgetArea(plugin.dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert [a.text() for a in iface.toolbar.actions()] == ["FloodSAR flood mapping"]
    assert iface.messages(Qgis.Warning) == []  # onnxruntime is installed: no dependency warning
    plugin.unload()
    assert registry.providerById("floodsar") is None
    assert iface.toolbar.actions() == [] and plugin.dock is None


def test_dock_shows_detected_bands_and_devices(plugin, spain_chip):
    layer = add_layer(spain_chip, "Spain")
    dock = plugin.dock
    dock.layer_combo.setLayer(layer)
    assert "VV" in dock.input_info.text() and "VH" in dock.input_info.text()
    assert [dock.device_combo.itemData(i) for i in range(dock.device_combo.count())] == ["auto", "cpu", "cuda"]
    assert "CPU" in dock.device_info.text()
    choose_method(dock, "otsu")
    assert not dock.model_file.isEnabled() and not dock.device_combo.isEnabled()


def test_dock_maps_a_real_chip_and_adds_a_styled_layer(plugin, iface, qtbot, spain_chip, water_model,
                                                        tmp_path):
    layer = add_layer(spain_chip, "Spain")
    dock = plugin.dock
    dock.layer_combo.setLayer(layer)
    choose_method(dock, "model")
    dock.model_file.setFilePath(str(water_model))
    dock.output_file.setFilePath(str(tmp_path / "spain_mask.tif"))
    dock.probability_check.setChecked(True)
    dock.polygons_check.setChecked(True)
    run_and_wait(dock, qtbot)

    [mask_layer] = results("Spain", "model")
    assert Path(mask_layer.source()) == tmp_path / "spain_mask.tif"
    assert mask_layer.renderer().type() == "paletted"
    expected_mask, _ = water_model_expected(spain_chip)
    assert np.mean(read(mask_layer.source()) != expected_mask) < 1e-3
    [probability] = results("Spain", "model", "water probability")
    [polygons] = results("Spain", "model", "flood polygons")
    assert polygons.featureCount() > 0
    top = [node.layer() for node in QgsProject.instance().layerTreeRoot().findLayers()]
    assert top == [polygons, mask_layer, probability, layer]  # results above the input, polygons first
    [message] = iface.messages(Qgis.Success)
    assert "km²" in message and " s " in message
    assert dock.progress.value() == 100 and dock.run_button.isEnabled()


def test_dock_runs_otsu_into_a_temporary_file(plugin, qtbot, real_data):
    chips = real_data / "sen1floods11"
    dock = plugin.dock
    dock.layer_combo.setLayer(add_layer(chips / "S1Hand" / "India_900498_S1Hand.tif", "India"))
    choose_method(dock, "otsu")
    run_and_wait(dock, qtbot)
    [mask_layer] = results("India", "Otsu")
    mask = read(mask_layer.source())
    label = read(chips / "LabelHand" / "India_900498_LabelHand.tif")
    valid = label >= 0
    iou = np.sum((mask == 1) & (label == 1) & valid) / np.sum(((mask == 1) | (label == 1)) & valid)
    assert iou > 0.5  # Otsu on this hand-labelled flood chip (256 px crop): IoU 0.60; all water: 0.35


def test_cancel_stops_the_run_and_adds_nothing(plugin, iface, qtbot, spain_chip, water_model, tmp_path):
    dock = plugin.dock
    dock.layer_combo.setLayer(add_layer(spain_chip, "Spain"))
    choose_method(dock, "model")
    dock.model_file.setFilePath(str(water_model))
    dock.tile_spin.setValue(48)  # many small tiles: the run lasts long enough to be cancelled mid-way
    dock.overlap_spin.setValue(12)  # at most a quarter of the tile
    dock.batch_spin.setValue(1)
    dock.output_file.setFilePath(str(tmp_path / "cancelled.tif"))
    dock.progress.valueChanged.connect(lambda value: value > 0 and dock.cancel())
    run_and_wait(dock, qtbot)
    assert results("Spain", "model") == []
    assert any("Cancelled" in m for m in iface.messages(Qgis.Info))
    assert not (tmp_path / "cancelled.tif").exists()
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()


@pytest.mark.parametrize("case", ["one_band_label", "no_crs", "all_nodata"])
def test_bad_input_gives_a_message_and_no_layer(plugin, iface, qtbot, real_data, tmp_path, case):
    chips = real_data / "sen1floods11"
    source = {"one_band_label": chips / "LabelHand" / "Spain_7370579_LabelHand.tif",
              "no_crs": write_without_crs(chips / "S1Hand" / "Spain_7370579_S1Hand.tif", tmp_path / "nocrs.tif"),
              "all_nodata": chips / "S1Hand" / "Paraguay_34417_S1Hand.tif"}[case]
    dock = plugin.dock
    dock.layer_combo.setLayer(add_layer(source, "Bad"))
    choose_method(dock, "otsu")
    run_and_wait(dock, qtbot)
    [message] = iface.messages(Qgis.Critical)
    assert source.name in message and "Traceback" not in message
    assert results("Bad", "Otsu") == []
    assert [layer.name() for layer in QgsProject.instance().mapLayers().values()] == ["Bad"]


def test_dock_runs_a_pytorch_model_only_when_trusted(plugin, iface, qtbot, spain_chip, tmp_path):
    """A .pt2 can be chosen in the panel: it runs with PyTorch once 'Trust this PyTorch model file' is ticked."""
    pt2 = save_pt2("pointwise", tmp_path / "pointwise.pt2", model_metadata(name="panel-pt2"))
    dock = plugin.dock
    dock.layer_combo.setLayer(add_layer(spain_chip, "Spain pt2"))
    choose_method(dock, "model")
    dock.model_file.setFilePath(str(pt2))
    assert dock.trust_check.isVisible() or not dock.isVisible()
    assert "not opened" in dock.model_limits.text()  # the card is not read from an untrusted .pt2
    dock.output_file.setFilePath(str(tmp_path / "untrusted.tif"))
    run_and_wait(dock, qtbot)
    assert results("Spain pt2", "model") == [] and not (tmp_path / "untrusted.tif").exists()
    dock.trust_check.setChecked(True)
    dock.output_file.setFilePath(str(tmp_path / "trusted.tif"))
    run_and_wait(dock, qtbot)
    [layer] = results("Spain pt2", "model")
    expected_mask, _ = water_model_expected(spain_chip)
    assert np.mean(read(layer.source()) != expected_mask) < 1e-3
    assert "on torch" in iface.messages(Qgis.Success)[-1]
