"""The ``floodsar`` Processing provider (toolbox, batch, graphical modeller, qgis_process)."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import MapFloodExtent, OtsuWater
from .layers import icon


class FloodSarProvider(QgsProcessingProvider):
    """Provides floodsar:map_flood_extent and floodsar:otsu_water."""

    def id(self) -> str:
        return "floodsar"

    def name(self) -> str:
        return "FloodSAR"

    def longName(self) -> str:  # noqa: N802
        return "FloodSAR: flood mapping from Sentinel-1 SAR"

    def icon(self) -> QIcon:
        return icon()

    def loadAlgorithms(self) -> None:  # noqa: N802
        self.addAlgorithm(MapFloodExtent())
        self.addAlgorithm(OtsuWater())

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["gpkg"]
