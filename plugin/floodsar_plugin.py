"""The QGIS plugin object: registers the Processing provider, the dock panel and the menu entries."""
from __future__ import annotations

from qgis.core import Qgis, QgsApplication
from qgis.gui import QgsMessageBarItem
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAction, QMessageBox, QPushButton

from .dependencies import add_to_sys_path, missing
from .installer import PipInstallTask, plugin_dependency_folder
from .layers import icon
from .provider import FloodSarProvider

MENU = "&FloodSAR"
#: The panel's width on a fresh profile; its layout fits it without sideways scrolling.
DOCK_MIN_WIDTH = 340


class FloodSarPlugin:
    """Created by ``classFactory``; ``iface`` is None under qgis_process (Processing only)."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: FloodSarProvider | None = None
        self.dock = None
        self.actions: list[QAction] = []
        self.install_task: PipInstallTask | None = None
        self.missing_message: QgsMessageBarItem | None = None
        add_to_sys_path(plugin_dependency_folder())

    def initProcessing(self) -> None:  # noqa: N802
        """Register the provider (also called alone by qgis_process)."""
        if self.provider is None:
            self.provider = FloodSarProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        from .dock import FloodSarDock  # imports the engine's reader; only the desktop needs it

        self.initProcessing()
        self.dock = FloodSarDock(self.iface.messageBar(), self.iface.mainWindow(), self.iface.mapCanvas())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.setMinimumWidth(DOCK_MIN_WIDTH)

        show = QAction(icon(), "FloodSAR flood mapping", self.iface.mainWindow())
        show.setCheckable(True)
        show.setChecked(True)
        show.toggled.connect(self.dock.setUserVisible)
        self.dock.visibilityChanged.connect(show.setChecked)
        install = QAction("Install Python dependencies…", self.iface.mainWindow())
        install.triggered.connect(self.offer_install)
        self.iface.addToolBarIcon(show)
        for action in (show, install):
            self.iface.addPluginToRasterMenu(MENU, action)
        self.actions = [show, install]
        self.check_dependencies()

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginRasterMenu(MENU, action)
            self.iface.removeToolBarIcon(action)
        self.actions = []
        if self.dock is not None:
            self.dock.close_panel()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    def check_dependencies(self) -> None:
        """Explain missing packages in the message bar, with an Install button."""
        needed = missing()
        if not any(dep.required for dep in needed):
            return
        bar = self.iface.messageBar()
        text = "; ".join(f"{dep.module} {dep.purpose}" for dep in needed)
        item = bar.createMessage("FloodSAR", f"Missing Python packages: {text}. The Otsu baseline works without them.")
        button = QPushButton("Install…")
        button.clicked.connect(self.offer_install)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Warning)
        self.missing_message = item

    def offer_install(self) -> None:
        """Ask, then install the missing packages with QGIS's own Python in the background."""
        needed = [dep for dep in missing() if dep.required] or missing()  # optional torch only on its own
        if not needed:
            self.iface.messageBar().pushMessage("FloodSAR", "All Python dependencies are installed.", Qgis.Info, 5)
            return
        listing = "\n".join(f"• {dep.requirement}: {dep.purpose}" for dep in needed)
        answer = QMessageBox.question(
            self.iface.mainWindow(), "FloodSAR dependencies",
            f"Install these packages for QGIS's Python into\n{plugin_dependency_folder()}?\n\n{listing}\n\n"
            "QGIS's own numpy and GDAL are kept; PyTorch is large (GBs) and only needed for its GPU backend.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.install_task = PipInstallTask(needed, self.iface.messageBar(), self.dependencies_installed)
        QgsApplication.taskManager().addTask(self.install_task)

    def dependencies_installed(self) -> None:
        """Main thread, after the installer succeeded: drop the warning and let the panel see the packages."""
        if self.missing_message is not None and not sip.isdeleted(self.missing_message):
            self.iface.messageBar().popWidget(self.missing_message)
        self.missing_message = None
        if self.dock is not None:
            self.dock.refresh_dependencies()
