"""Sentinel-1 products as users download them, in real QGIS: the toolbox algorithm, its dialog and the panel
take a GRD SAFE folder, its manifest.safe or .zip, a HyP3 RTC .zip or folder, a SNAP .dim and a URL, say what
will be done to the product, and map it as the engine does."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsProject
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QFileDialog

from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.plugin.dock import ErrorCollectingFeedback
from helpers.products import (RTC_NAME, SAFE_NAME, rtc_product, sigma0_db, snap_product, tiny_safe, water_and_land,
                              zip_folder)
from helpers.qgis_layers import read
from helpers.qgis_panel import choose_method, results, run_algorithm_dialog, run_and_wait
from helpers.rasters import write_geotiff

#: What the log says first about each kind of product.
KINDS = {"SAFE folder": "Sentinel-1 IW GRD SAFE product", "manifest.safe": "Sentinel-1 IW GRD SAFE product",
         "GRD zip": "Sentinel-1 IW GRD SAFE product", "HyP3 zip": "HyP3 RTC product",
         "HyP3 folder": "HyP3 RTC product", "SNAP .dim": "SNAP BEAM-DIMAP product"}


class LogFeedback(QgsProcessingFeedback):
    """Processing feedback keeping the lines the algorithm writes to the log."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.lines.append(info)
        super().pushInfo(info)


def products(folder: Path) -> dict[str, tuple[str, str]]:
    """Each kind of product, small but with the real file layout: kind -> (Processing parameter, path)."""
    safe = tiny_safe(folder / "grd", *water_and_land())
    db = sigma0_db()
    rtc = rtc_product(folder / "rtc", db, None, np.ones(db.shape[1:]))
    return {"SAFE folder": ("PRODUCT_FOLDER", str(safe)),
            "manifest.safe": ("PRODUCT", str(safe / "manifest.safe")),
            "GRD zip": ("PRODUCT", str(zip_folder(safe, folder / f"{SAFE_NAME[:-5]}.zip"))),
            "HyP3 zip": ("PRODUCT", str(zip_folder(rtc, folder / f"{RTC_NAME}.zip"))),
            "HyP3 folder": ("PRODUCT_FOLDER", str(rtc)),
            "SNAP .dim": ("PRODUCT", str(snap_product(folder / "snap", db)))}


def engine_otsu(path: str, output: Path) -> np.ndarray:
    """The Otsu water mask the engine makes of ``path`` on its own."""
    return read(predict(PredictionRequest(inputs=[path], output=output, method="otsu", io=GdalIO())).output)


def test_toolbox_maps_each_product_as_the_engine_does(processing_plugin, tmp_path):
    for kind, (parameter, path) in products(tmp_path).items():
        feedback = LogFeedback()
        out = tmp_path / f"{kind}.tif"
        found = processing_plugin.run("floodsar:otsu_water", {parameter: path, "OUTPUT": str(out)},
                                      feedback=feedback)
        assert any(line.startswith(f"Product: {KINDS[kind]}") for line in feedback.lines), (kind, feedback.lines)
        assert any(line.startswith("Processing: ") for line in feedback.lines), kind
        mask = read(out)
        np.testing.assert_array_equal(mask, engine_otsu(path, tmp_path / f"{kind} engine.tif"))
        assert (mask == 1).sum() > 100 and (mask == 0).sum() > 100, kind
        assert found["WATER_AREA_KM2"] > 0


def test_toolbox_reads_a_geotiff_over_http(processing_plugin, tmp_path, http_folder):
    db = sigma0_db((300, 400))
    gdal.Translate(str(tmp_path / "scene.tif"), str(write_geotiff(tmp_path / "plain.tif", db,
                                                                  descriptions=("VV", "VH"))), format="COG")
    url = f"{http_folder}/scene.tif"
    feedback = LogFeedback()
    processing_plugin.run("floodsar:otsu_water", {"PRODUCT": url, "OUTPUT": str(tmp_path / "url.tif")},
                          feedback=feedback)
    assert "Product: raster(s) read over HTTP (GDAL /vsicurl/, range requests)" in feedback.lines, feedback.lines
    np.testing.assert_array_equal(read(tmp_path / "url.tif"), engine_otsu(str(tmp_path / "scene.tif"),
                                                                           tmp_path / "local.tif"))


def test_toolbox_maps_part_of_a_product(processing_plugin, tmp_path):
    """An area given in longitude/latitude is taken into the product's own CRS (known once it is opened)."""
    archive = products(tmp_path)["HyP3 zip"][1]
    utm, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(utm, wgs84)
    (west, south, _), (east, north, _) = (to_wgs84.TransformPoint(x, y) for x, y in ((500100, 3999500),
                                                                                     (500500, 3999800)))
    processing_plugin.run("floodsar:otsu_water", {"PRODUCT": archive, "EXTENT": f"{west},{east},{south},{north} "
                                                  "[EPSG:4326]", "OUTPUT": str(tmp_path / "part.tif")})
    part = gdal.Open(str(tmp_path / "part.tif"))  # 40 x 30 pixels of the 10 m product, and the lon/lat box's tilt
    assert 40 <= part.RasterXSize <= 42 and 30 <= part.RasterYSize <= 32
    assert abs(part.GetGeoTransform()[0] - 500100) <= 10 and abs(part.GetGeoTransform()[3] - 3999800) <= 10


@pytest.mark.parametrize("given", ["nothing", "layer and product", "not a product"])
def test_toolbox_input_mistakes_are_one_clear_line(processing_plugin, spain_chip, tmp_path, given):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not a Sentinel-1 product\n")
    download = zip_folder(notes, tmp_path / "download.zip")
    parameters = {"nothing": {}, "layer and product": {"INPUT": str(spain_chip), "PRODUCT": str(download)},
                  "not a product": {"PRODUCT": str(download)}}[given]
    feedback = ErrorCollectingFeedback()
    with pytest.raises(QgsProcessingException) as error:
        processing_plugin.run("floodsar:otsu_water", {**parameters, "OUTPUT": str(tmp_path / "out.tif")},
                              feedback=feedback)
    [message] = {text for text in (str(error.value), *feedback.errors) if "Sentinel-1" in text}
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()


def test_dialog_offers_a_product_file_and_folder_and_logs_the_steps(processing_plugin, qtbot, tmp_path):
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    dialog = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("floodsar:otsu_water"))
    pickers = {name: dialog.mainWidget().wrappers[name].wrappedWidget() for name in ("PRODUCT", "PRODUCT_FOLDER")}
    assert all(isinstance(picker, QgsFileWidget) for picker in pickers.values())
    assert pickers["PRODUCT"].storageMode() == QgsFileWidget.GetFile and "*.zip" in pickers["PRODUCT"].filter()
    assert pickers["PRODUCT_FOLDER"].storageMode() == QgsFileWidget.GetDirectory
    dialog.close()
    archive = products(tmp_path)["HyP3 zip"][1]
    try:
        log = run_algorithm_dialog("floodsar:otsu_water", {"PRODUCT": archive,
                                                           "OUTPUT": str(tmp_path / "dialog.tif")}, qtbot)
        assert "Product: HyP3 RTC product" in log and "gamma0 converted to sigma0" in log
        assert "failed" not in log and "not correctly generated" not in log
        [layer] = results(RTC_NAME, "Otsu")
        assert Path(layer.source()) == tmp_path / "dialog.tif"
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_panel_maps_a_product_folder_and_shows_what_will_be_done(plugin, qtbot, tmp_path, monkeypatch):
    safe = products(tmp_path)["SAFE folder"][1]
    dock = plugin.dock
    choose_method(dock, "otsu")
    dock.source_combo.setCurrentIndex(dock.source_combo.findData("product"))
    assert dock.product_box.isVisibleTo(dock) and not dock.layer_box.isVisibleTo(dock)
    # Qt's folder dialog is modal and cannot be clicked offscreen: the user's choice is returned for it
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: safe)
    qtbot.mouseClick(dock.product_folder_button, 1)
    info = dock.input_info.text()
    assert "Product: Sentinel-1 IW GRD SAFE product" in info and "calibration to sigma0" in info
    assert "thermal noise removal" in info and "geocoding on the ellipsoid" in info
    warnings = dock.input_warnings.text()
    assert "500 m of relief at 35 deg moves a pixel about 714 m" in warnings and "--" not in warnings
    dock.output_file.setFilePath(str(tmp_path / "panel.tif"))
    run_and_wait(dock, qtbot)
    [layer] = results(SAFE_NAME[:-5], "Otsu")
    np.testing.assert_array_equal(read(tmp_path / "panel.tif"), engine_otsu(safe, tmp_path / "engine.tif"))


def test_panel_describes_a_url_once_typed(plugin, tmp_path, http_folder):
    write_geotiff(tmp_path / "scene.tif", sigma0_db((64, 64)), descriptions=("VV", "VH"))
    dock = plugin.dock
    dock.source_combo.setCurrentIndex(dock.source_combo.findData("product"))
    dock.product_file.setFilePath(f"{http_folder}/scene.tif")
    assert "read over HTTP" not in dock.input_info.text()  # not fetched at every key typed
    dock.product_file.lineEdit().editingFinished.emit()
    assert "Product: raster(s) read over HTTP" in dock.input_info.text()
    assert dock.parameters()["PRODUCT"] == f"{http_folder}/scene.tif" and "INPUT" not in dock.parameters()


def _corner_and_dem(folder: Path) -> tuple[Path, Path, tuple[float, ...]]:
    """The real-geometry GRD corner, a flat 300 m DEM over it (30 m pixels) and its output grid's transform."""
    from helpers.products import CORNER_SAFE, CORNER_SHAPE

    from floodsar.engine.products import resolve

    safe = tiny_safe(folder, *water_and_land(CORNER_SHAPE), source=CORNER_SAFE)
    raster = resolve([safe], GdalIO()).raster
    grid = raster.grid
    raster.close()
    x0, _, _, y0, _, _ = grid.transform
    dem = write_geotiff(folder / "dem.tif", np.full((grid.height // 3 + 2, grid.width // 3 + 2), 300.0, np.float32),
                        epsg=32633, transform=(x0 - 30, 30.0, 0.0, y0 + 30, 0.0, -30.0))
    return safe, dem, grid.transform


def test_toolbox_terrain_corrects_a_grd_with_a_dem(processing_plugin, tmp_path):
    safe, dem, (x0, _, _, y0, _, _) = _corner_and_dem(tmp_path)
    feedback = LogFeedback()
    extent = f"{x0 + 5000},{x0 + 12000},{y0 - 15000},{y0 - 8000} [EPSG:32633]"  # both halves of water_and_land
    processing_plugin.run("floodsar:otsu_water", {"PRODUCT_FOLDER": str(safe), "DEM": str(dem), "EXTENT": extent,
                                                  "OUTPUT": str(tmp_path / "classes.tif")}, feedback=feedback)
    log = " ".join(feedback.lines)
    assert "terrain-corrected geocoding with the DEM" in log and "geocoding on the ellipsoid" not in log
    classes = read(tmp_path / "classes.tif")
    assert classes.shape == (700, 700) and (classes == 1).any() and (classes == 0).any()


def test_panel_says_a_grd_is_terrain_corrected_once_a_dem_is_chosen(plugin, tmp_path, monkeypatch):
    safe, dem, _ = _corner_and_dem(tmp_path)
    dock = plugin.dock
    dock.source_combo.setCurrentIndex(dock.source_combo.findData("product"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(safe))
    dock.product_folder_button.click()
    assert "geocoding on the ellipsoid" in dock.input_info.text()
    dock.flood_files["DEM"].setFilePath(str(dem))
    assert "terrain-corrected geocoding with the DEM" in dock.input_info.text()
    assert "Ellipsoid geocoding" not in dock.input_warnings.text()
    dock.flood_files["DEM"].setFilePath("")
