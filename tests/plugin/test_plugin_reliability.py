"""Issue 12 through the real Processing algorithm: one line and no traceback in the log, no code from a model
file, and OVERLAP=0 meaning an overlap of 0."""
from __future__ import annotations


import pytest
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

from helpers import models
from helpers.hostile_files import hostile_pt2


class LogFeedback(QgsProcessingFeedback):
    """Feedback that keeps everything the Processing log would show."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803
        self.log.append(error)

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.log.append(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.log.append(warning)


def run_failing(processing, algorithm: str, parameters: dict) -> str:
    """Run an algorithm that must fail; returns its one message, after checking the log holds no traceback."""
    feedback = LogFeedback()
    with pytest.raises(QgsProcessingException) as error:
        processing.run(algorithm, parameters, feedback=feedback)
    text = "\n".join([str(error.value), *feedback.log])
    assert "Traceback" not in text and len(str(error.value).splitlines()) == 1, text
    return str(error.value)


def test_a_truncated_geotiff_gives_one_line_in_qgis(processing_plugin, spain_chip, tmp_path):
    bad = tmp_path / "bad.tif"
    data = spain_chip.read_bytes()
    bad.write_bytes(data[: len(data) // 5])
    out = tmp_path / "out"
    out.mkdir()
    message = run_failing(processing_plugin, "floodsar:otsu_water", {"INPUT": str(bad), "OUTPUT": str(out / "m.tif")})
    assert "bad.tif" in message and "truncated or corrupt" in message
    assert list(out.iterdir()) == []


def test_a_hostile_pt2_runs_nothing_in_qgis(processing_plugin, spain_chip, tmp_path):
    good = models.save_pt2("conv3x3", tmp_path / "good.pt2", models.model_metadata())
    marker = tmp_path / "code_ran"
    evil = hostile_pt2(good, tmp_path / "evil.pt2", marker)
    message = run_failing(processing_plugin, "floodsar:map_flood_extent", {
        "INPUT": str(spain_chip), "MODEL": str(evil), "BACKEND": 1, "OUTPUT": str(tmp_path / "m.tif")})
    assert "evil.pt2" in message and "Trust this PyTorch model file" in message
    assert not marker.exists() and not (tmp_path / "m.tif").exists()


@pytest.mark.parametrize("given, expected", [(0, 0), (8, 8), (None, None)])
def test_overlap_zero_means_zero_and_empty_means_the_model_default(processing_plugin, spain_chip, tmp_path, given,
                                                                   expected):
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("floodsar:map_flood_extent")
    parameters = {"INPUT": str(spain_chip), "OUTPUT": str(tmp_path / "m.tif")}
    if given is not None:
        parameters["OVERLAP"] = given
    assert algorithm.prepareAlgorithm(parameters, QgsProcessingContext(), QgsProcessingFeedback())
    assert algorithm.options["overlap"] == expected  # the request is built from these when the run starts
