"""An int8 twin of a FloodSAR ONNX model: static quantisation calibrated on real Sentinel-1 rasters.

    floodsar-train quantize [--model resources/models/floodsar_s1.onnx] [--out resources/models/floodsar_s1_int8.onnx]
                            [--calibration RASTER ... | --real ../shared/data/real]

ONNX Runtime's static quantisation (QDQ format, int8 weights per output channel, uint8 activations:
the pair that runs on VNNI / AVX-512 integer kernels) after ``quant_pre_process`` (with
``skip_symbolic_shape``: the model's height and width are symbolic). The first convolution stays in
float32 (:func:`first_convolution`): it reads the two input bands at full resolution, where an int8
kernel has only 2 x 3 x 3 values per dot product and ran slower than float32 (10.2 vs 5.1 ms per
1,024 px tile on one core), and its input keeps full precision. Activation ranges come from
the model's own inputs on REAL rasters, read, normalised and tiled exactly as ``floodsar predict``
feeds the model. By default those are the real Sentinel-1 rasters of the shared data that no
evaluation scores (:func:`calibration_rasters`): the unlabelled STAC Overflow chips not among the
labelled ones and the TerraMind RTC tiles. No label is read. The FloodSAR metadata is copied into
the new file with a ``quantisation`` entry in its provenance (source file and SHA-256, format,
calibration rasters), so the engine loads it like any FloodSAR model (``--precision int8`` picks
the bundled one). Accuracy is measured separately (``floodsar-train evaluate-real --model``).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from ..engine.errors import FloodSarError
from ..engine.metadata import INPUT_NAME, ModelMetadata, metadata_from_map, write_onnx_metadata
from ..engine.models import DEFAULT_MODEL, int8_twin, load_model
from ..engine.safe_write import atomic_output
from ..engine.polarisation import POLARISATIONS
from ..engine.sentinel1 import open_sentinel1
from ..engine.tiling import plan_tiles
from .real_data import real_data_dir

#: The bundled int8 model, written by ``floodsar-train quantize`` with its defaults.
DEFAULT_INT8 = int8_twin(DEFAULT_MODEL)
#: Tiles read per calibration raster at most (row-major from the top left), each a model input.
MAX_TILES_PER_RASTER = 8
FORMAT = "ONNX Runtime static quantisation: QDQ, int8 weights per output channel, uint8 activations, MinMax ranges"


def _stac_pairs(folder: Path, exclude: set[str]) -> list[tuple[Path, ...]]:
    pairs = []
    for vv in sorted(folder.glob("*_vv.tif")):
        chip = vv.name[: -len("_vv.tif")]
        vh = vv.with_name(f"{chip}_vh.tif")
        if chip not in exclude and vh.is_file():
            pairs.append((vv, vh))
    return pairs


def calibration_rasters(real: Path) -> list[tuple[Path, ...]]:
    """The default calibration inputs under the shared real-data folder: real Sentinel-1 VV/VH rasters
    that evaluation never scores. STAC Overflow ``unlabelled/test_features`` chips (those also in
    ``labelled/`` are left out: they are evaluation chips) and ``other/terramind_s1rtc`` tiles."""
    stac = real / "stac_overflow"
    labelled = {path.name[: -len("_vv.tif")] for path in (stac / "labelled").glob("*_vv.tif")}
    rasters = _stac_pairs(stac / "unlabelled" / "test_features", labelled)
    rasters += [(path,) for path in sorted((real / "other" / "terramind_s1rtc").glob("*.tif"))]
    if not rasters:
        raise FloodSarError(f"{real}: no calibration rasters found (stac_overflow/unlabelled/test_features, "
                            "other/terramind_s1rtc); pass --real or --calibration FILE ...")
    return rasters


def model_inputs(inputs: Sequence[Path], metadata: ModelMetadata, tiles: int = MAX_TILES_PER_RASTER
                 ) -> Iterator[np.ndarray]:
    """float32 [1, C, H, W] batches of one raster as ``floodsar predict`` gives them to the model: its tiles
    (model tile size and overlap, edges padded), normalised per the metadata, invalid pixels at 0."""
    bands = [POLARISATIONS.index(band) for band in metadata.bands]
    with open_sentinel1(list(inputs)) as source:
        scene = source.scene_statistics().select(bands) if metadata.normalisation == "scene" else None
        plan = plan_tiles(source.grid.height, source.grid.width, metadata.tile_size, metadata.overlap,
                          metadata.stride)
        for tile in list(plan)[:tiles]:
            window = tile.read
            db, valid = source.read_db(window.row, window.col, window.height, window.width)
            if valid.any():
                normalised = metadata.normalise(db[bands], scene)
                normalised[:, ~valid] = 0.0
                yield normalised[None]


def _calibration_reader(batches: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self) -> Optional[dict]:
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    return Reader()


def first_convolution(model: Path) -> str:
    """The name of the model's first Conv node (ONNX graphs list nodes in topological order)."""
    import onnx

    name = next((node.name for node in onnx.load(str(model)).graph.node if node.op_type == "Conv"), None)
    if not name:
        raise FloodSarError(f"{model}: the model has no named convolution to keep in float32; "
                            "export it with FloodSAR (floodsar-train export).")
    return name


def quantise(model: Path, out: Path, rasters: Sequence[tuple[Path, ...]]) -> Path:
    """Write the int8 model of ``model`` to ``out``, calibrated on ``rasters``; FloodSarError on failure."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = load_model(model, "onnx", "cpu")  # a model the engine refuses is refused here too
    batches = [batch for inputs in rasters for batch in model_inputs(inputs, source.metadata)]
    if not batches:
        raise FloodSarError("no calibration tile has a valid pixel; pass other --calibration rasters.")
    with tempfile.TemporaryDirectory(prefix="floodsar-quantize-") as tmp:
        prepared, quantised = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantised), _calibration_reader(batches), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=[first_convolution(prepared)])
        result = onnx.load(str(quantised))
    names = [" + ".join(path.name for path in inputs) for inputs in rasters]
    provenance = {**source.metadata.provenance, "quantisation": {
        "format": FORMAT, "source": model.name, "source_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "calibration": f"{len(batches)} model inputs from real Sentinel-1 rasters (no labels): {', '.join(names)}",
        "command": "floodsar-train quantize"}}
    write_onnx_metadata(result, dataclasses.replace(source.metadata, provenance=provenance))
    onnx.checker.check_model(result)
    with atomic_output(out) as tmp_out:
        onnx.save(result, str(tmp_out))
    load_model(out, "onnx", "cpu")
    return out


def agreement(fp32: Path, int8: Path, batches: Sequence[np.ndarray], threshold: float) -> tuple[float, float]:
    """(max |p_int8 - p_fp32|, water-mask IoU of int8 against fp32) over ``batches``."""
    models = [load_model(path, "onnx", "cpu") for path in (fp32, int8)]
    worst, inter, union = 0.0, 0, 0
    for batch in batches:
        p32, p8 = (model.predict(batch) for model in models)
        worst = max(worst, float(np.abs(p32 - p8).max()))
        w32, w8 = p32 >= threshold, p8 >= threshold
        inter, union = inter + int((w32 & w8).sum()), union + int((w32 | w8).sum())
    return worst, inter / union if union else 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="fp32 FloodSAR .onnx (default: bundled)")
    parser.add_argument("--out", type=Path, help=f"the int8 .onnx to write (default: <model>_int8.onnx beside it; "
                                                  f"for the bundled model {DEFAULT_INT8.name})")
    parser.add_argument("--calibration", nargs="+", type=Path, metavar="RASTER",
                        help="Sentinel-1 VV+VH rasters (2-band files) to calibrate on (default: the real rasters "
                             "of the shared data that no evaluation scores)")
    parser.add_argument("--real", type=Path, help="shared real-data folder for the default calibration "
                                                   "(default: $FLOODSAR_REAL_DATA, else ../shared/data/real)")


def command(args: argparse.Namespace) -> int:
    """``floodsar-train quantize``: the int8 model, and how far it is from fp32 on its calibration tiles."""
    out = args.out or int8_twin(args.model)
    if out.suffix.lower() != ".onnx" or out.resolve() == args.model.resolve():
        raise FloodSarError(f"{out}: --out must be a new .onnx file, not the model itself.")
    rasters = [(path,) for path in args.calibration] if args.calibration else calibration_rasters(
        args.real or real_data_dir())
    quantise(args.model, out, rasters)
    metadata = metadata_from_map(load_model(out, "onnx", "cpu").backend.metadata_map, out)
    batches = [batch for inputs in rasters for batch in model_inputs(inputs, metadata)]
    worst, iou = agreement(args.model, out, batches, metadata.threshold)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB (fp32 {args.model.stat().st_size / 1e6:.1f} MB); on its "
          f"{len(batches)} calibration tiles max |p_int8 - p_fp32| = {worst:.3f}, water-mask IoU with fp32 = "
          f"{iou:.4f}. Score it on labelled real chips: floodsar-train evaluate-real --model {out}")
    return 0


if __name__ == "__main__":
    from .cli import main

    sys.exit(main(["quantize", *sys.argv[1:]]))
