"""The floodsar Processing provider in real QGIS: processing.run and qgis_process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsProcessingModelAlgorithm,
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                       QgsProcessingModelOutput, QgsProcessingModelParameter, QgsProcessingParameterRasterLayer,
                       QgsProject)

from floodsar.engine.gdal_io import GdalIO
from floodsar.engine.pipeline import PredictionRequest, predict
from floodsar.plugin.dock import ErrorCollectingFeedback
from floodsar.plugin.package import build
from helpers.qgis_layers import read, water_model_expected, write_without_crs


def test_provider_lists_both_algorithms_with_typed_parameters(processing_plugin):
    provider = QgsApplication.processingRegistry().providerById("floodsar")
    assert sorted(alg.id() for alg in provider.algorithms()) == ["floodsar:map_flood_extent", "floodsar:otsu_water"]
    model = QgsApplication.processingRegistry().algorithmById("floodsar:map_flood_extent")
    types = {p.name(): p.type() for p in model.parameterDefinitions()}
    assert types["INPUT"] == "raster" and types["MODEL"] == "file" and types["DEVICE"] == "enum"
    assert types["OUTPUT"] == "rasterDestination" and types["VECTOR"] == "vectorDestination"
    assert {"WATER_AREA_KM2", "VALID_AREA_KM2", "SECONDS"} <= {o.name() for o in model.outputDefinitions()}
    assert model.flags() & model.FlagSupportsBatch and model.flags() & model.FlagCanCancel


def test_every_parameter_has_help_and_bands_come_from_the_input(processing_plugin):
    for algorithm_id in ("floodsar:map_flood_extent", "floodsar:otsu_water"):
        algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
        help_text = algorithm.shortHelpString()
        for parameter in algorithm.parameterDefinitions():
            assert len(parameter.help()) > 20, parameter.name()
            assert parameter.description() in help_text and parameter.help() in help_text
        assert algorithm.helpUrl().startswith("https://")
        types = {p.name(): (p.type(), getattr(p, "parentLayerParameterName", lambda: None)())
                 for p in algorithm.parameterDefinitions()}
        assert types["VV_BAND"] == types["VH_BAND"] == ("band", "INPUT")
        assert types["EXTENT"][0] == "extent" and types["THRESHOLD"][0] == "number"


def test_otsu_water_matches_the_engine(processing_plugin, spain_chip, tmp_path):
    out = tmp_path / "otsu.tif"
    results = processing_plugin.run("floodsar:otsu_water", {
        "INPUT": str(spain_chip), "OUTPUT": str(out), "VECTOR": str(tmp_path / "otsu.gpkg")})
    assert results["OUTPUT"] == str(out) and Path(results["VECTOR"]).is_file()
    direct = predict(PredictionRequest(inputs=[spain_chip], output=tmp_path / "direct.tif", method="otsu",
                                       io=GdalIO()), None, None)
    mask = read(out)
    np.testing.assert_array_equal(mask, read(direct.output))
    assert results["WATER_AREA_KM2"] == pytest.approx(direct.water_area_km2)
    assert set(np.unique(mask)) == {0, 1}  # the chip has no nodata pixel
    assert 0.01 < np.mean(mask == 1) < 0.5


def test_toolbox_style_is_applied_to_loaded_results(processing_plugin, spain_chip, tmp_path):
    results = processing_plugin.runAndLoadResults("floodsar:otsu_water", {
        "INPUT": str(spain_chip), "OUTPUT": str(tmp_path / "loaded.tif"), "VECTOR": str(tmp_path / "loaded.gpkg")})
    try:
        loaded = {Path(layer.source().split("|")[0]): layer for layer in QgsProject.instance().mapLayers().values()}
        mask = loaded[Path(results["OUTPUT"])]
        assert mask.renderer().type() == "paletted"
        assert {c.value: c.color.alpha() for c in mask.renderer().classes()} == {0: 0, 1: 255}
        polygons = loaded[Path(results["VECTOR"])]
        assert polygons.renderer().symbol().color().alpha() < 255  # see-through fill, outlined
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_algorithm_works_inside_a_graphical_model(processing_plugin, spain_chip, water_model, tmp_path):
    model = QgsProcessingModelAlgorithm("flood_model", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("S1", "Sentinel-1"), QgsProcessingModelParameter("S1"))
    child = QgsProcessingModelChildAlgorithm("floodsar:map_flood_extent")
    child.setChildId("flood")
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("S1")])
    child.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromStaticValue(str(water_model))])
    output = QgsProcessingModelOutput("mask", "Flood mask")
    output.setChildId("flood")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"mask": output})
    model.addChildAlgorithm(child)
    valid, issues = model.validate()
    assert valid, issues
    results = processing_plugin.run(model, {"S1": str(spain_chip), "flood:mask": str(tmp_path / "model.tif")})
    assert results["flood:mask"] == str(tmp_path / "model.tif")
    expected_mask, _ = water_model_expected(spain_chip)
    assert np.mean(read(tmp_path / "model.tif") != expected_mask) < 1e-3


def test_map_flood_extent_runs_the_given_onnx_model(processing_plugin, spain_chip, water_model, tmp_path):
    results = processing_plugin.run("floodsar:map_flood_extent", {
        "INPUT": str(spain_chip), "MODEL": str(water_model), "DEVICE": 1,
        "OUTPUT": str(tmp_path / "mask.tif"), "PROBABILITIES": str(tmp_path / "probability.tif")})
    expected_mask, expected_probability = water_model_expected(spain_chip)
    mask = read(results["OUTPUT"])
    assert np.mean(mask != expected_mask) < 1e-3  # only pixels right at p = 0.5 may differ
    assert 0.01 < np.mean(mask == 1) < 0.9
    probability = read(results["PROBABILITIES"])
    valid = expected_mask != 255
    np.testing.assert_allclose(probability[valid], expected_probability[valid], atol=1e-3)
    assert results["WATER_AREA_KM2"] > 0 and "CPU" in results["BACKEND"]


def test_cancelled_run_writes_nothing(processing_plugin, spain_chip, water_model, tmp_path):
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="(?i)cancel"):
        processing_plugin.run("floodsar:map_flood_extent", {
            "INPUT": str(spain_chip), "MODEL": str(water_model), "OUTPUT": str(tmp_path / "mask.tif")},
            feedback=feedback)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["one_band_label", "no_crs", "all_nodata"])
def test_bad_inputs_raise_a_clear_message_and_write_nothing(processing_plugin, real_data, tmp_path, case):
    chips = real_data / "sen1floods11"
    source = {"one_band_label": chips / "LabelHand" / "Spain_7370579_LabelHand.tif",
              "no_crs": write_without_crs(chips / "S1Hand" / "Spain_7370579_S1Hand.tif", tmp_path / "nocrs.tif"),
              "all_nodata": chips / "S1Hand" / "Paraguay_34417_S1Hand.tif"}[case]
    out = tmp_path / "out" / "mask.tif"
    out.parent.mkdir()
    feedback = ErrorCollectingFeedback()
    with pytest.raises(QgsProcessingException) as error:
        processing_plugin.run("floodsar:otsu_water", {"INPUT": str(source), "OUTPUT": str(out)}, feedback=feedback)
    # errors found while preparing go to the feedback (the toolbox log); later ones are raised
    [message] = [text for text in (str(error.value), *feedback.errors) if source.name in text]
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert list(out.parent.iterdir()) == []


def test_qgis_process_runs_otsu_water_from_the_plugin_zip(spain_chip, water_model, tmp_path):
    executable = shutil.which("qgis_process.bin") or shutil.which("qgis_process")  # Debian's wrapper adds a bad flag
    if executable is None:
        pytest.skip("qgis_process is not installed")
    plugins = tmp_path / "plugins"  # installed as users do: the release zip unpacked into a plugin folder
    zipfile.ZipFile(build(tmp_path / "dist")).extractall(plugins)
    env = dict(os.environ, QGIS_PLUGINPATH=str(plugins), HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               QT_QPA_PLATFORM="offscreen", GDAL_PAM_ENABLED="NO")  # no statistics saved beside the input
    enabled = subprocess.run([executable, "plugins", "enable", "floodsar"], env=env, capture_output=True, text=True)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    out = tmp_path / "qgis_process_mask.tif"
    done = subprocess.run([executable, "--json", "run", "floodsar:otsu_water", "--",
                           f"INPUT={spain_chip}", f"OUTPUT={out}"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout[done.stdout.index("{"):])["results"]
    assert results["OUTPUT"] == str(out) and results["WATER_AREA_KM2"] > 0
    direct = predict(PredictionRequest(inputs=[spain_chip], output=tmp_path / "direct.tif", method="otsu",
                                       io=GdalIO()), None, None)
    np.testing.assert_array_equal(read(out), read(direct.output))

    # Debian's Python (QGIS's own) has no onnxruntime: the model run explains how to install it
    if subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        return
    model_out = tmp_path / "model_mask.tif"
    failed = subprocess.run([executable, "run", "floodsar:map_flood_extent", "--", f"INPUT={spain_chip}",
                             f"MODEL={water_model}", f"OUTPUT={model_out}"], env=env, capture_output=True,
                            text=True)
    assert failed.returncode != 0 and not model_out.exists()
    assert "'onnxruntime'" in failed.stdout + failed.stderr
    assert "Install Python dependencies" in failed.stdout + failed.stderr


def test_extent_in_another_crs_maps_only_that_area(processing_plugin, spain_chip, tmp_path):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsRasterLayer,
                           QgsReferencedRectangle)

    layer = QgsRasterLayer(str(spain_chip), "Spain", "gdal")
    mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    to_mercator = QgsCoordinateTransform(layer.crs(), mercator, QgsProject.instance())
    full = layer.extent()
    quarter = full.buffered(-full.width() / 4)  # the middle half in each direction
    extent = QgsReferencedRectangle(to_mercator.transformBoundingBox(quarter), mercator)
    results = processing_plugin.run("floodsar:otsu_water", {
        "INPUT": str(spain_chip), "EXTENT": extent, "THRESHOLD": -20.0, "OUTPUT": str(tmp_path / "part.tif")})
    part = read(results["OUTPUT"])
    assert abs(part.shape[0] - 256) <= 2 and abs(part.shape[1] - 256) <= 2
    assert "Given threshold -20.00 dB" in results["BACKEND"]


def test_engine_errors_are_worded_for_qgis(processing_plugin, large_real_data, water_model, tmp_path):
    vv_only = large_real_data / "stac_overflow" / "labelled" / "pxs10_vv.tif"
    with pytest.raises(QgsProcessingException) as error:
        processing_plugin.run("floodsar:map_flood_extent", {"INPUT": str(vv_only), "MODEL": str(water_model),
                                                            "OUTPUT": str(tmp_path / "m.tif")})
    message = str(error.value)
    assert "VV-only" in message and "'VH layer'" in message and "Otsu threshold (baseline) method" in message
    assert "--" not in message


def test_engine_errors_use_the_qgis_parameter_names(processing_plugin, spain_chip, tmp_path):
    from osgeo import gdal

    spain = gdal.Open(str(spain_chip)).ReadAsArray()
    three = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "three.tif"), 512, 512, 3, gdal.GDT_Float32)
    reference = gdal.Open(str(spain_chip))
    three.SetGeoTransform(reference.GetGeoTransform())
    three.SetProjection(reference.GetProjection())
    for band, data in enumerate([*spain, spain[0]], start=1):
        three.GetRasterBand(band).WriteArray(data)
    three = reference = None
    feedback = ErrorCollectingFeedback()
    with pytest.raises(QgsProcessingException) as error:
        processing_plugin.run("floodsar:otsu_water", {"INPUT": str(tmp_path / "three.tif"),
                                                      "OUTPUT": str(tmp_path / "mask.tif")}, feedback=feedback)
    [message] = [text for text in (str(error.value), *feedback.errors) if "three.tif" in text]
    assert "'VV band' N, 'VH band' M" in message and "--" not in message
