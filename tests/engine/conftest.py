"""Engine test fixtures: small real models (built by :mod:`helpers.models`), real chips by name, GDAL's
exception mode."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from osgeo import gdal

from floodsar.engine.metadata import METADATA_KEY
from helpers.models import model_metadata, onnx_model, save_onnx, save_pt2
from helpers.real_data import RealFiles, large_real_data_dir


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def pointwise_model(model_dir) -> Path:
    """pointwise.onnx (with FloodSAR metadata)."""
    return save_onnx(onnx_model("pointwise", model_metadata(name="pointwise")), model_dir / "pointwise.onnx")


@pytest.fixture(scope="session")
def conv_model(model_dir) -> Path:
    """conv3x3.onnx and its twin conv3x3.pt2, both with FloodSAR metadata."""
    metadata = model_metadata(name="conv3x3")
    save_pt2("conv3x3", model_dir / "conv3x3.pt2", metadata)
    return save_onnx(onnx_model("conv3x3", metadata), model_dir / "conv3x3.onnx")


@pytest.fixture(scope="session")
def bad_models(model_dir) -> dict[str, Path]:
    """Model files the engine must refuse, by what is wrong with them."""
    folder = model_dir / "bad"
    folder.mkdir()
    corrupt = folder / "corrupt.onnx"
    good = onnx_model("pointwise", model_metadata()).SerializeToString()
    corrupt.write_bytes(good[: len(good) // 2])
    not_json = onnx_model("pointwise", None)
    entry = not_json.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, "{not json"
    wrong_fields = onnx_model("pointwise", None)
    entry = wrong_fields.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({"name": "x", "architecture": "y", "colour": "blue"})
    text = folder / "text.onnx"
    text.write_text("this is not a model\n")
    return {
        "corrupt": corrupt,
        "text": text,
        "no_metadata": save_onnx(onnx_model("pointwise", None), folder / "no_metadata.onnx"),
        "bad_json": save_onnx(not_json, folder / "bad_json.onnx"),
        "unknown_field": save_onnx(wrong_fields, folder / "unknown_field.onnx"),
        "hh_hv_bands": save_onnx(onnx_model("pointwise", model_metadata(bands=("HH", "HV"))),
                                 folder / "hh_hv_bands.onnx"),
        "one_channel": save_onnx(onnx_model("conv3x3", model_metadata(), channels=1),
                                    folder / "one_channel.onnx"),
        "torch_no_metadata": save_pt2("pointwise", folder / "torch_no_metadata.pt2", None),
    }


@pytest.fixture(scope="session")
def chips(real_data) -> RealFiles:
    """Real Sentinel-1 chips by name: the committed ones, and files of the large set (skipped when absent)."""
    s1 = real_data / "sen1floods11" / "S1Hand"
    large = large_real_data_dir()
    so = large / "stac_overflow" / "labelled"
    return RealFiles({
        "spain": s1 / "Spain_7370579_S1Hand.tif",
        "india": s1 / "India_900498_S1Hand.tif",
        "ghana_dry": s1 / "Ghana_53713_S1Hand.tif",
        "paraguay_nan": s1 / "Paraguay_34417_S1Hand.tif",
        "spain_label": real_data / "sen1floods11" / "LabelHand" / "Spain_7370579_LabelHand.tif",
        "jja10_vv": so / "jja10_vv.tif",
        "jja10_vh": so / "jja10_vh.tif",
        "jja10_label": so / "jja10.tif",
        "vv_only": large / "other" / "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif",
    })


@pytest.fixture(params=["exceptions on", "exceptions off"])
def gdal_exception_mode(request):
    """Run under both GDAL exception modes: QGIS and other plugins choose theirs, not FloodSAR."""
    previous = gdal.GetUseExceptions()
    (gdal.UseExceptions if request.param == "exceptions on" else gdal.DontUseExceptions)()
    yield request.param
    (gdal.UseExceptions if previous else gdal.DontUseExceptions)()


@pytest.fixture(params=["rasterio", "gdal"])
def io(request):
    """Each raster I/O implementation in turn (a test taking ``io`` runs once per implementation)."""
    from floodsar.engine.io_choice import choose_io

    return choose_io(request.param)
