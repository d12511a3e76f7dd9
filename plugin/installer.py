"""Install missing Python packages for QGIS's own Python, in a background task."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Sequence

import numpy
from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.gui import QgsMessageBar

from .dependencies import (Dependency, add_to_sys_path, dependency_folder, pip_command, python_executable,
                           shell_command)


def plugin_dependency_folder() -> Path:
    """The folder FloodSAR installs packages into for this QGIS profile and Python runtime."""
    return dependency_folder(Path(QgsApplication.qgisSettingsDirPath()) / "python" / "floodsar_dependencies")


class PipInstallTask(QgsTask):
    """Runs pip with QGIS's Python; reports in the message bar when done (main thread)."""

    def __init__(self, dependencies: Sequence[Dependency], message_bar: QgsMessageBar,
                 on_installed: Callable[[], None] | None = None) -> None:
        names = ", ".join(dep.requirement for dep in dependencies)
        super().__init__(f"FloodSAR: installing {names}", QgsTask.CanCancel)
        self.names = names
        self.message_bar = message_bar
        self.on_installed = on_installed  # main thread, after a successful install
        self.target = plugin_dependency_folder()
        # beside the packages, not in a temporary folder: nothing leaks and the command shown stays runnable
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.constraints = self.target.parent / f"{self.target.name}-constraints.txt"
        self.command = pip_command(python_executable(), self.target, [d.requirement for d in dependencies],
                                   numpy.__version__, self.constraints)
        self.output = ""

    def run(self) -> bool:  # background thread: no QGIS objects
        self.target.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(self.command, capture_output=True, text=True, check=False)
        except OSError as exc:
            self.output = str(exc)
            return False
        self.output = (done.stdout + done.stderr).strip()
        return done.returncode == 0

    def finished(self, result: bool) -> None:  # main thread
        if result:
            add_to_sys_path(self.target)
            self.message_bar.pushMessage("FloodSAR", f"Installed {self.names} into {self.target}.",
                                         Qgis.Success, 10)
            if self.on_installed is not None:
                self.on_installed()
        else:
            last = self.output.splitlines()[-1] if self.output else "pip did not run"
            self.message_bar.pushMessage(
                "FloodSAR", f"Installing {self.names} failed ({last}). Run by hand: {shell_command(self.command)}",
                Qgis.Critical, 0)
