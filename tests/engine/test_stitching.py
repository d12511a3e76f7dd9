"""Stitching: centre-crop gives seamless results; rows come out in whole output blocks."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from floodsar.engine.stitching import StripAssembler, crop_core
from floodsar.engine.tiling import plan_tiles


def stitch(image: np.ndarray, run, tile: int, overlap: int, stride: int, block_rows: int = 64) -> np.ndarray:
    """Tile ``image`` [C, H, W] (zeros outside), run each tile, centre-crop and assemble."""
    channels, height, width = image.shape
    plan = plan_tiles(height, width, tile, overlap, stride)
    padded = np.zeros((channels, height + 2 * plan.size, width + 2 * plan.size), np.float32)
    padded[:, plan.size:plan.size + height, plan.size:plan.size + width] = image
    out = np.full((height, width), np.nan, np.float32)
    assembler = StripAssembler(width, block_rows)
    written = []
    for t in plan:
        r, c = t.read.row + plan.size, t.read.col + plan.size
        values = run(padded[None, :, r:r + t.read.height, c:c + t.read.width])[0, 0]
        for row, rows in assembler.add(t, crop_core(t, values)):
            written.append((row, len(rows)))
            out[row:row + len(rows)] = rows
    for row, rows in assembler.finish():
        written.append((row, len(rows)))
        out[row:row + len(rows)] = rows
    assert [row for row, _ in written] == list(np.cumsum([0] + [n for _, n in written[:-1]]))
    assert all(n % block_rows == 0 for _, n in written[:-1])  # whole output blocks until the last chunk
    return out


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def whole(sess, image: np.ndarray, stride: int) -> np.ndarray:
    """The model on the whole image at once (padded with zeros to the stride, then cropped)."""
    _, height, width = image.shape
    padded = np.zeros((1, image.shape[0], -(-height // stride) * stride, -(-width // stride) * stride), np.float32)
    padded[0, :, :height, :width] = image
    return sess.run(None, {"input": padded})[0][0, 0, :height, :width]


@pytest.fixture(scope="module")
def image(real_data) -> np.ndarray:
    """A real, normalised-looking 2-band image: Spain chip (NaN -> 0), 300 x 451 px."""
    from osgeo import gdal

    data = gdal.Open(str(real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif")).ReadAsArray()
    data = (np.nan_to_num(data, nan=-17.5) + 17.5) / 5.0
    return data[:, 100:400, 30:481].astype(np.float32)


@pytest.mark.parametrize("model", ["pointwise_model", "conv_model"])
def test_stitched_equals_whole_image(request, model, image):
    sess = session(request.getfixturevalue(model))
    run = lambda batch: sess.run(None, {"input": batch})[0]  # noqa: E731
    expected = whole(sess, image, 16)
    for tile, overlap in ((64, 1), (128, 16), (48, 8)):
        np.testing.assert_allclose(stitch(image, run, tile, overlap, 16), expected, rtol=0, atol=1e-6)


def test_without_overlap_the_3x3_model_shows_seams(conv_model, image):
    """The check above can fail: with overlap 0 a 3x3 model sees zero padding at tile borders."""
    sess = session(conv_model)
    run = lambda batch: sess.run(None, {"input": batch})[0]  # noqa: E731
    diff = np.abs(stitch(image, run, 64, 0, 16) - whole(sess, image, 16)) > 1e-4
    rows, cols = np.nonzero(diff)
    on_border = np.isin(rows % 64, (0, 63)) | np.isin(cols % 64, (0, 63))
    assert diff.any() and on_border.all()  # differences only along tile borders


def test_assembler_refuses_to_finish_a_half_row():
    plan = plan_tiles(10, 100, 32, 0, 1)
    assembler = StripAssembler(100, 16)
    assembler.add(next(iter(plan)), np.zeros((10, 32), np.float32))
    with pytest.raises(RuntimeError):
        assembler.finish()
