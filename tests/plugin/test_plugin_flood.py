"""Flood classes in real QGIS: the Processing algorithm and the dock with a pre-flood image and reference water."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt

from helpers.qgis_layers import read
from helpers.qgis_panel import results

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def ayt12(large_real_data) -> dict[str, Path]:
    folder = large_real_data / "stac_overflow" / "unlabelled"
    return {"vv": folder / "test_features" / "ayt12_vv.tif", "vh": folder / "test_features" / "ayt12_vh.tif",
            "jrc": folder / "jrc_extent" / "ayt12.tif", "dem": folder / "nasadem" / "ayt12.tif"}


def test_algorithm_maps_flood_classes_with_reference_water_and_a_report(processing_plugin, ayt12, tmp_path):
    algorithm = QgsApplication.processingRegistry().algorithmById("floodsar:otsu_water")
    names = {p.name() for p in algorithm.parameterDefinitions()}
    assert {"PRE", "PRE_VH", "REFERENCE_WATER", "HAND", "DEM", "EXCLUDE", "REPORT"} <= names
    results = processing_plugin.runAndLoadResults("floodsar:otsu_water", {
        "INPUT": str(ayt12["vv"]), "VH": str(ayt12["vh"]), "PRE": str(ayt12["vv"]), "PRE_VH": str(ayt12["vh"]),
        "REFERENCE_WATER": str(ayt12["jrc"]), "OUTPUT": str(tmp_path / "classes.tif"),
        "REPORT": str(tmp_path / "report.json")})
    try:
        classes = read(results["OUTPUT"])
        assert results["FLOOD_AREA_KM2"] == 0  # the same image before and after
        assert np.any(classes == 2) and set(np.unique(classes)) <= {0, 2}
        report = json.loads(Path(results["REPORT"]).read_text())
        assert report["classes"]["flood"]["area_km2"] == 0
        [layer] = [layer for layer in QgsProject.instance().mapLayers().values()
                   if Path(layer.source()) == Path(results["OUTPUT"])]
        assert [c.label for c in layer.renderer().classes()] == ["Dry", "Flood", "Reference water",
                                                                 "Excluded (terrain, masks)"]
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_dock_maps_flood_and_reports_the_flooded_area(plugin, iface, qtbot, ayt12, tmp_path):
    project = QgsProject.instance()
    vv, vh = (QgsRasterLayer(str(ayt12[b]), f"ayt12 {b}", "gdal") for b in ("vv", "vh"))
    project.addMapLayers([vv, vh])
    dock = plugin.dock
    dock.layer_combo.setLayer(vv)
    dock.separate_vh.setChecked(True)
    dock.vh_combo.setLayer(vh)
    dock.method_combo.setCurrentIndex(dock.method_combo.findData("otsu"))
    dock.flood_files["REFERENCE_WATER"].setFilePath(str(ayt12["jrc"]))
    dock.flood_files["DEM"].setFilePath(str(ayt12["dem"]))
    dock.output_file.setFilePath(str(tmp_path / "classes.tif"))
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.task is None and dock.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    [layer] = results("ayt12 vv", "Otsu", "flood classes")
    classes = read(layer.source())
    assert {1, 2, 3} <= set(np.unique(classes).tolist())
    [message] = iface.messages(Qgis.Success)
    assert message.startswith("FloodSAR: Flooded: ") and "km²" in message
