"""Real QGIS for the plugin tests: one QgsApplication per session (offscreen), Processing, a real iface."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
qgis_core = pytest.importorskip("qgis.core", reason="needs Debian's QGIS Python bindings (python3-qgis)")

from qgis.core import Qgis, QgsApplication, QgsProject  # noqa: E402
from qgis.gui import QgsMapCanvas, QgsMessageBar  # noqa: E402
from qgis.PyQt.QtWidgets import QMainWindow, QMenu, QVBoxLayout, QWidget  # noqa: E402

from helpers.models import model_metadata, onnx_model, save_onnx  # noqa: E402

PROCESSING_PLUGINS = "/usr/share/qgis/python/plugins"
_APP: QgsApplication | None = None


def qgis_app() -> QgsApplication:
    """Start QGIS (GUI-enabled, offscreen, throw-away profile) and Processing, once per session."""
    global _APP
    if _APP is None:
        _APP = QgsApplication([], True, tempfile.mkdtemp(prefix="floodsar_qgis_profile_"))
        _APP.setPrefixPath("/usr", True)
        _APP.initQgis()
        if PROCESSING_PLUGINS not in sys.path:
            sys.path.append(PROCESSING_PLUGINS)
        from processing.core.Processing import Processing

        Processing.initialize()
    return _APP


@pytest.fixture(scope="session")
def qapp():
    """pytest-qt uses this QgsApplication instead of creating its own QApplication."""
    return qgis_app()


@pytest.fixture(autouse=True)
def no_statistics_beside_inputs():
    """QGIS computes a new raster layer's statistics and GDAL saves them in FILE.aux.xml beside it, wherever the
    folder is writable (as root: the shared real data too). Tests add real inputs as layers: nothing of theirs is
    written there. FloodSAR's outputs hold everything in the GeoTIFF itself, so the tests see the same."""
    from osgeo import gdal

    previous = gdal.GetConfigOption("GDAL_PAM_ENABLED")
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
    yield
    gdal.SetConfigOption("GDAL_PAM_ENABLED", previous)


class DesktopIface:
    """The part of QgisInterface the plugin uses, built from real QGIS/Qt objects (no mocks)."""

    def __init__(self) -> None:
        self.window = QMainWindow()
        central = QWidget()
        layout = QVBoxLayout(central)
        self.bar = QgsMessageBar()
        self.canvas = QgsMapCanvas()
        layout.addWidget(self.bar)
        layout.addWidget(self.canvas)
        self.window.setCentralWidget(central)
        self.toolbar = self.window.addToolBar("Plugins")
        self.raster_menu = self.window.menuBar().addMenu("Raster")
        self.submenus: dict[str, QMenu] = {}
        self.window.resize(1200, 800)

    def mainWindow(self) -> QMainWindow:  # noqa: N802
        return self.window

    def messageBar(self) -> QgsMessageBar:  # noqa: N802
        return self.bar

    def mapCanvas(self) -> QgsMapCanvas:  # noqa: N802
        return self.canvas

    def addDockWidget(self, area, dock) -> None:  # noqa: N802
        self.window.addDockWidget(area, dock)
        dock.show()  # as QgisApp::addDockWidget does

    def removeDockWidget(self, dock) -> None:  # noqa: N802
        self.window.removeDockWidget(dock)

    def addToolBarIcon(self, action) -> None:  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action) -> None:  # noqa: N802
        self.toolbar.removeAction(action)

    def addPluginToRasterMenu(self, name: str, action) -> None:  # noqa: N802
        if name not in self.submenus:
            self.submenus[name] = self.raster_menu.addMenu(name)
        self.submenus[name].addAction(action)

    def removePluginRasterMenu(self, name: str, action) -> None:  # noqa: N802
        menu = self.submenus.get(name)
        if menu is not None:
            menu.removeAction(action)

    def messages(self, level: Qgis.MessageLevel | None = None) -> list[str]:
        """Texts of the message bar items currently shown (optionally of one level)."""
        items = self.bar.items()
        return [f"{item.title()}: {item.text()}" for item in items if level is None or item.level() == level]


@pytest.fixture
def processing_plugin(qapp):
    """The plugin as qgis_process loads it: classFactory(None) + initProcessing()."""
    import floodsar

    plugin = floodsar.classFactory(None)
    plugin.initProcessing()
    import processing

    yield processing
    plugin.unload()
    assert QgsApplication.processingRegistry().providerById("floodsar") is None


@pytest.fixture
def iface(qapp):
    iface = DesktopIface()
    iface.window.show()
    yield iface
    iface.window.close()


@pytest.fixture
def plugin(iface):
    """The FloodSAR plugin loaded through classFactory, initialised, unloaded after the test."""
    import floodsar

    plugin = floodsar.classFactory(iface)
    plugin.initGui()
    yield plugin
    plugin.unload()
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture(scope="session")
def spain_chip(real_data: Path) -> Path:
    return real_data / "sen1floods11" / "S1Hand" / "Spain_7370579_S1Hand.tif"


@pytest.fixture(scope="session")
def water_model(tmp_path_factory) -> Path:
    """A tiny real ONNX model (the engine tests' "pointwise" one): dark VH is water, pixel by pixel."""
    model = onnx_model("pointwise", model_metadata(name="plugin-test-pointwise"))
    return save_onnx(model, tmp_path_factory.mktemp("models") / "pointwise.onnx")
