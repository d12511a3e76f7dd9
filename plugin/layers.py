"""Result layers: load FloodSAR outputs into a project with the styles shipped in resources/styles.

Main thread only (it creates layers and touches the project).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from qgis.core import (QgsMapLayer, QgsProcessingContext, QgsProcessingFeedback,
                       QgsProcessingLayerPostProcessorInterface, QgsProject, QgsProviderRegistry, QgsRasterLayer,
                       QgsVectorLayer)
from qgis.PyQt.QtGui import QIcon

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
ICON_PATH = PLUGIN_ROOT / "resources" / "icons" / "floodsar.svg"
STYLE_DIR = PLUGIN_ROOT / "resources" / "styles"

# Processing output name -> (layer name suffix, QML style, raster?)
OUTPUT_STYLES = {
    "OUTPUT": ("flood water", "water_mask.qml", True),
    "CLASSES": ("flood classes", "flood_classes.qml", True),
    "PROBABILITIES": ("water probability", "water_probability.qml", True),
    "VECTOR": ("flood polygons", "flood_polygons.qml", False),
}


def icon() -> QIcon:
    """The FloodSAR icon."""
    return QIcon(str(ICON_PATH))


def layer_path(layer: QgsRasterLayer) -> str | None:
    """The file behind a GDAL raster layer, or None if it is not a file raster."""
    if layer.providerType() != "gdal":
        return None
    path = QgsProviderRegistry.instance().decodeUri("gdal", layer.source()).get("path") or layer.source()
    return path if Path(path).is_file() else None


def apply_style(layer: QgsMapLayer, output: str) -> None:
    """Style ``layer`` as the Processing output ``output`` (a key of :data:`OUTPUT_STYLES`)."""
    qml = STYLE_DIR / OUTPUT_STYLES[output][1]
    message, ok = layer.loadNamedStyle(str(qml))
    if not ok:
        raise RuntimeError(f"cannot load style {qml}: {message}")
    layer.triggerRepaint()


def add_result_layers(results: Mapping[str, object], base_name: str,
                      project: QgsProject | None = None) -> list[QgsMapLayer]:
    """Add every output file in ``results`` to ``project``, styled; returns the layers added.

    Polygons go on top, then the mask, then the probability.
    """
    project = project or QgsProject.instance()
    added = []
    for output in ("PROBABILITIES", "OUTPUT", "VECTOR"):
        path = results.get(output)
        if not path or not Path(str(path)).exists():
            continue
        if output == "OUTPUT" and results.get("FLOOD_AREA_KM2") is not None:
            output = "CLASSES"  # a flood class map (the run had flood inputs)
        suffix, _qml, raster = OUTPUT_STYLES[output]
        name = f"{base_name} {suffix}"
        layer = QgsRasterLayer(str(path), name, "gdal") if raster else QgsVectorLayer(str(path), name, "ogr")
        if not layer.isValid():
            continue
        apply_style(layer, output)
        project.addMapLayer(layer)
        added.append(layer)
    return added


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles a layer that Processing loads on completion (toolbox, batch, modeller)."""

    # Processing keeps only a C++ pointer: Python must hold the instances.
    _alive: dict[str, "StylePostProcessor"] = {}

    def __init__(self, output: str) -> None:
        super().__init__()
        self.output = output

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> None:
        apply_style(layer, self.output)

    @classmethod
    def for_output(cls, output: str) -> "StylePostProcessor":
        """The (kept alive) post-processor for ``output``."""
        if output not in cls._alive:
            cls._alive[output] = cls(output)
        return cls._alive[output]
