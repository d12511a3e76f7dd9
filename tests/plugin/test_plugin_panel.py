"""The panel's analyst cases in a real QGIS window: pairing, band choice, warnings, area, threshold, layout."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import Qgis, QgsProject, QgsRectangle
from qgis.PyQt.QtWidgets import QScrollArea

from floodsar.plugin.dependencies import DEPENDENCIES, GpuStatus
from helpers.models import model_metadata, onnx_model, save_onnx
from helpers.qgis_layers import read
from helpers.qgis_panel import add_layer, choose_method, results, run_and_wait


def swapped_copy(source: Path, target: Path) -> Path:
    """``source``'s two bands in the other order (VH first), without band descriptions."""
    dataset = gdal.Open(str(source))
    copy = gdal.GetDriverByName("GTiff").Create(str(target), dataset.RasterXSize, dataset.RasterYSize, 2,
                                                gdal.GDT_Float32)
    copy.SetGeoTransform(dataset.GetGeoTransform())
    copy.SetProjection(dataset.GetProjection())
    for band, source_band in ((1, 2), (2, 1)):
        copy.GetRasterBand(band).WriteArray(read(source, source_band))
    copy = None
    return target


def test_separate_vv_and_vh_layers_are_paired(plugin, large_real_data):
    folder = large_real_data / "stac_overflow" / "labelled"
    vh = add_layer(folder / "jja10_vh.tif", "jja10_vh")
    vv = add_layer(folder / "jja10_vv.tif", "jja10_vv")
    add_layer(folder / "awc00_vh.tif", "awc00_vh")  # another scene's VH: not a partner
    dock = plugin.dock
    dock.layer_combo.setLayer(vh)  # picking either one pairs them, VV first
    assert dock.separate_vh.isChecked()
    assert dock.layer_combo.currentLayer() is vv and dock.vh_combo.currentLayer() is vh
    assert "jja10_vv.tif band 1" in dock.input_info.text() and "jja10_vh.tif band 1" in dock.input_info.text()


def test_single_polarisation_error_is_worded_for_the_panel(plugin, large_real_data):
    dock = plugin.dock
    choose_method(dock, "model")
    dock.layer_combo.setLayer(add_layer(large_real_data / "stac_overflow" / "labelled" / "pxs10_vv.tif", "pxs10_vv"))
    assert not dock.separate_vh.isChecked()  # no VH partner in the project
    text = dock.input_info.text()
    assert "VV-only" in text and "'VH layer'" in text and "--" not in text and "floodsar predict" not in text
    choose_method(dock, "otsu")  # Otsu maps a single polarisation
    assert "VV: " in dock.input_info.text() and "VV-only" not in dock.input_info.text()


def test_vh_first_file_without_descriptions_warns_and_offers_the_bands(plugin, qtbot, spain_chip, tmp_path):
    dock = plugin.dock
    dock.layer_combo.setLayer(add_layer(swapped_copy(spain_chip, tmp_path / "vh_first.tif"), "VH first"))
    warnings = dock.input_warnings.text()
    assert not dock.input_warnings.isHidden()
    assert "band 1 is taken as VV" in warnings and "look swapped" in warnings and "'VV band' 2" in warnings
    assert "--" not in warnings
    dock.vv_band.setBand(2)
    dock.vh_band.setBand(1)
    assert dock.input_warnings.isHidden()
    choose_method(dock, "otsu")
    dock.output_file.setFilePath(str(tmp_path / "chosen.tif"))
    run_and_wait(dock, qtbot)
    [layer] = results("VH first", "Otsu")
    direct = plugin.dock  # the same scene in its usual band order gives the same map
    direct.layer_combo.setLayer(add_layer(spain_chip, "Spain"))
    direct.output_file.setFilePath(str(tmp_path / "usual.tif"))
    run_and_wait(direct, qtbot)
    np.testing.assert_array_equal(read(tmp_path / "chosen.tif"), read(tmp_path / "usual.tif"))


def test_warnings_reach_the_message_bar_and_old_errors_go(plugin, iface, qtbot, real_data, spain_chip):
    dock = plugin.dock
    choose_method(dock, "otsu")
    dock.layer_combo.setLayer(add_layer(real_data / "sen1floods11" / "S1Hand" / "Paraguay_34417_S1Hand.tif", "Bad"))
    run_and_wait(dock, qtbot)
    assert len(iface.messages(Qgis.Critical)) == 1
    dock.layer_combo.setLayer(add_layer(real_data / "sen1floods11" / "S1Hand" / "Ghana_53713_S1Hand.tif", "Dry"))
    run_and_wait(dock, qtbot)
    assert iface.messages(Qgis.Critical) == []  # the earlier run's error was cleared
    [warning] = iface.messages(Qgis.Warning)
    assert "bimodal" in warning
    assert len(iface.messages(Qgis.Success)) == 1


def test_area_threshold_and_minimum_area_reach_the_run(plugin, qtbot, spain_chip, tmp_path):
    dock = plugin.dock
    layer = add_layer(spain_chip, "Spain")
    dock.layer_combo.setLayer(layer)
    choose_method(dock, "otsu")
    full = layer.extent()
    part = QgsRectangle(full.xMinimum(), full.yMinimum(), full.center().x(), full.center().y())
    dock.area.setOutputCrs(layer.crs())
    dock.area.setOutputExtentFromUser(part, layer.crs())
    dock.threshold_check.setChecked(True)
    dock.threshold_spin.setValue(-19.5)
    dock.min_area.setValue(2500)
    dock.output_file.setFilePath(str(tmp_path / "part.tif"))
    parameters = dock.parameters()
    assert parameters["THRESHOLD"] == -19.5 and parameters["MIN_AREA_M2"] == 2500
    run_and_wait(dock, qtbot)
    [result] = results("Spain", "Otsu")
    assert (result.width(), result.height()) == (layer.width() // 2, layer.height() // 2)
    assert "Given threshold -19.50 dB" in dock.messages[-1].text()


def test_panel_fits_its_width_without_sideways_scrolling(plugin, iface, qapp, real_data):
    from floodsar.plugin.floodsar_plugin import DOCK_MIN_WIDTH

    dock = plugin.dock
    long_name = "S1A_IW_GRDH_1SDV_20190315T053422_20190315T053447_026360_02F26B_1A2B_flood_event_VV_VH_dB"
    dock.layer_combo.setLayer(add_layer(real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif",
                                        long_name))
    dock.advanced.setCollapsed(False)
    dock.resize(DOCK_MIN_WIDTH, 900)
    qapp.processEvents()
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea)
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible()


def test_model_card_limits_are_shown(plugin, tmp_path):
    from floodsar.plugin.model_card import read_card

    modes = ["Mountain shadow: dark slopes look like water.", "Urban flooding (double bounce) is missed."]
    carded = save_onnx(onnx_model("pointwise", model_metadata(
        name="carded", licence="CC0", provenance={"failure_modes": modes})), tmp_path / "carded.onnx")
    dock = plugin.dock
    choose_method(dock, "model")
    assert dock.model_limits.text().startswith("Known failure modes: ")  # the bundled model's card
    dock.model_file.setFilePath(str(carded))
    assert dock.model_limits.text() == "Known failure modes: Mountain shadow; Urban flooding."
    assert not dock.model_limits.isHidden()
    card = read_card(carded).as_html()
    assert all(mode in card for mode in modes) and "CC0" in card
    choose_method(dock, "otsu")
    assert dock.model_limits.isHidden()


def test_time_left_is_shown_while_running(plugin):
    dock = plugin.dock
    dock.started = time.monotonic() - 10.0
    dock.show_progress(25.0)
    assert dock.progress.text().startswith("25%") and "about 30 s left" in dock.progress.text()


def test_panel_sees_onnxruntime_once_the_installer_succeeds(iface, monkeypatch):
    import floodsar
    from floodsar.plugin import dock as dock_module
    from floodsar.plugin import floodsar_plugin
    from floodsar.plugin.installer import PipInstallTask

    # onnxruntime is installed here: stand in for "not yet installed" until the installer reports success
    monkeypatch.setattr(floodsar_plugin, "missing", lambda: list(DEPENDENCIES[:1]))
    monkeypatch.setattr(dock_module, "gpu_status", lambda: GpuStatus(False, "ONNX Runtime is not installed"))
    plugin = floodsar.classFactory(iface)
    plugin.initGui()
    try:
        assert len(iface.messages(Qgis.Warning)) == 1 and "not installed" in plugin.dock.device_info.text()
        monkeypatch.undo()
        task = PipInstallTask(DEPENDENCIES[:1], iface.bar, plugin.dependencies_installed)
        task.finished(True)  # what QGIS calls on the main thread when pip succeeded
        assert iface.messages(Qgis.Warning) == []
        assert plugin.dock.device_info.text().startswith("ONNX Runtime ")
    finally:
        plugin.unload()


@pytest.fixture(autouse=True)
def empty_project():
    yield
    QgsProject.instance().removeAllMapLayers()


def test_zipped_raster_layer_is_passed_on_as_its_vsizip_path(real_data, spain_chip, tmp_path, qapp):
    import zipfile

    from floodsar.plugin.layers import layer_path
    from qgis.core import QgsRasterLayer

    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(spain_chip, spain_chip.name)
    path = f"/vsizip/{archive}/{spain_chip.name}"
    layer = QgsRasterLayer(path, "zipped", "gdal")
    assert layer.isValid() and layer_path(layer) == path
