"""Result layers: FloodSAR outputs named, styled with resources/styles and put on top of the layer tree.

The dock adds its layers with :func:`add_result_layers`; the toolbox, batch and
modeller runs let Processing load them and finish each one with a
:class:`ResultLayerPostProcessor`. Main thread only (it creates layers and touches the project).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

from qgis.core import (QgsLayerTreeGroup, QgsMapLayer, QgsProcessingContext, QgsProcessingFeedback,
                       QgsProcessingLayerPostProcessorInterface, QgsProject, QgsProviderRegistry, QgsRasterLayer,
                       QgsSettings, QgsVectorLayer)
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QIcon

from .parameters import (CLASSES, FLOOD_AREA_KM2, OUTPUT, PROBABILITIES, VECTOR)

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
ICON_PATH = PLUGIN_ROOT / "resources" / "icons" / "floodsar.svg"
STYLE_DIR = PLUGIN_ROOT / "resources" / "styles"

# Processing output name -> (layer name suffix, QML style, raster?); listed top of the layer tree first.
OUTPUT_STYLES = {
    VECTOR: ("flood polygons", "flood_polygons.qml", False),
    CLASSES: ("flood classes", "flood_classes.qml", True),  # OUTPUT of a run with flood inputs
    OUTPUT: ("flood water", "water_mask.qml", True),
    PROBABILITIES: ("water probability", "water_probability.qml", True),
}
METHOD_LABELS = {"model": "model", "otsu": "Otsu"}
#: Where Processing's "Results group name" setting lives (results then go into that group).
RESULTS_GROUP_SETTING = "Processing/Configuration/RESULTS_GROUP_NAME"


def icon() -> QIcon:
    """The FloodSAR icon."""
    return QIcon(str(ICON_PATH))


def layer_path(layer: QgsRasterLayer) -> str | None:
    """The file behind a GDAL raster layer (``/vsizip/...`` for a raster inside a zip), or None if none.

    The path is what GDAL opens, so the engine reads exactly what QGIS shows.
    """
    if layer.providerType() != "gdal":
        return None
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = parts.get("path") or layer.source()
    if not Path(path).is_file():
        return None
    return f"{parts.get('vsiPrefix') or ''}{path}{parts.get('vsiSuffix') or ''}"


def run_label(scene: str, method: str, started: float | None = None) -> str:
    """'<scene> <method> <HH:MM:SS>': the start of every layer name of one run."""
    clock = time.strftime("%H:%M:%S", time.localtime(time.time() if started is None else started))
    return f"{scene} {METHOD_LABELS[method]} {clock}"


def layer_name(label: str, output: str, project: QgsProject, layer: QgsMapLayer | None = None) -> str:
    """The name for ``output`` of the run ``label``, made unique in ``project`` with ' (2)', ' (3)'...

    ``layer``: the layer to be named, when it is already in ``project``.
    """
    name = f"{label} {OUTPUT_STYLES[output][0]}"
    taken = {other.name() for other in project.mapLayers().values() if other is not layer}
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def apply_style(layer: QgsMapLayer, output: str) -> None:
    """Style ``layer`` as the Processing output ``output`` (a key of :data:`OUTPUT_STYLES`)."""
    qml = STYLE_DIR / OUTPUT_STYLES[output][1]
    message, ok = layer.loadNamedStyle(str(qml))
    if not ok:
        raise RuntimeError(f"cannot load style {qml}: {message}")
    layer.triggerRepaint()


def place_on_top(layer: QgsMapLayer, project: QgsProject, above: int = 0) -> None:
    """Move ``layer`` to the top of the layer tree, below the first ``above`` layers there.

    QGIS adds a layer where the current selection is, which may be under an opaque raster or
    inside the user's group; Processing's own results group (a setting) is left as it is.
    """
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        return
    parent = node.parent()
    results_group = QgsSettings().value(RESULTS_GROUP_SETTING, "")
    if isinstance(parent, QgsLayerTreeGroup) and parent is not root and parent.name() == results_group:
        root = parent
    if parent is root and root.children().index(node) == above:
        return
    clone = node.clone()
    root.insertChildNode(above, clone)
    parent.removeChildNode(node)


def add_result_layers(results: Mapping[str, object], label: str,
                      project: QgsProject | None = None) -> list[QgsMapLayer]:
    """Add every output file in ``results`` to the top of ``project``, named and styled; returns them."""
    project = project or QgsProject.instance()
    added = []
    mask = CLASSES if results.get(FLOOD_AREA_KM2) is not None else OUTPUT  # a flood class map or not
    for output, (_suffix, _qml, raster) in OUTPUT_STYLES.items():
        if output in (OUTPUT, CLASSES) and output != mask:
            continue
        path = results.get(OUTPUT if output == CLASSES else output)
        if not path or not Path(str(path)).exists():
            continue
        name = layer_name(label, output, project)
        layer = QgsRasterLayer(str(path), name, "gdal") if raster else QgsVectorLayer(str(path), name, "ogr")
        if not layer.isValid():
            continue
        apply_style(layer, output)
        tag(layer, label, output)
        project.addMapLayer(layer, False)
        project.layerTreeRoot().insertLayer(len(added), layer)
        added.append(layer)
    return added


class ResultLayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Names, styles and places one output layer that Processing loads on completion.

    Create one per output with :meth:`create`: Processing deletes the C++ object with its
    context (each batch row has its own), so an instance is never shared or reused.
    """

    # Processing's context keeps only a C++ pointer, so Python holds the instances until it deletes them.
    _alive: set["ResultLayerPostProcessor"] = set()

    def __init__(self, output: str, label: str) -> None:
        super().__init__()
        self.output = output
        self.label = label

    @classmethod
    def create(cls, output: str, label: str) -> "ResultLayerPostProcessor":
        """A new post-processor for ``output`` of the run ``label``, kept alive until Processing deletes it."""
        cls._alive = {processor for processor in cls._alive if not sip.isdeleted(processor)}
        processor = cls(output, label)
        cls._alive.add(processor)
        return processor

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> None:
        project = context.project() or QgsProject.instance()
        layer.setName(layer_name(self.label, self.output, project, layer))
        apply_style(layer, self.output)
        place_on_top(layer, project, _outputs_above(project, self.label, self.output))
        tag(layer, self.label, self.output)


def tag(layer: QgsMapLayer, label: str, output: str) -> None:
    """Remember which run and output ``layer`` shows (layer custom properties)."""
    layer.setCustomProperty("floodsar/run", label)
    layer.setCustomProperty("floodsar/output", output)


def _outputs_above(project: QgsProject, label: str, output: str) -> int:
    """How many layers of run ``label`` at the top of the tree belong above ``output``."""
    order = list(OUTPUT_STYLES)
    count = 0
    for node in project.layerTreeRoot().findLayers()[:len(order)]:
        layer = node.layer()
        if (layer is not None and layer.customProperty("floodsar/run") == label
                and order.index(layer.customProperty("floodsar/output")) < order.index(output)):
            count += 1
    return count
