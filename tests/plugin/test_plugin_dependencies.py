"""Dependency detection, the pip command and sys.path handling (no download)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from floodsar.plugin.dependencies import (DEPENDENCIES, Dependency, add_to_sys_path, dependency_folder, gpu_status,
                                          missing, pip_command, python_executable, runtime_tag)


def test_missing_reports_only_unimportable_modules():
    absent = Dependency("floodsar_no_such_module", "floodsar-no-such-module", "testing", True)
    assert missing([absent, *DEPENDENCIES[:1]]) == [absent]  # onnxruntime is installed in the venv


def test_dependency_folder_is_per_python_runtime(tmp_path):
    folder = dependency_folder(tmp_path)
    assert folder.parent == tmp_path
    assert folder.name == runtime_tag()
    assert folder.name.startswith(f"python{sys.version_info.major}.{sys.version_info.minor}-{sys.platform}-")


def test_add_to_sys_path_appends_after_qgis_packages_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "deps"
    assert add_to_sys_path(folder) is False  # not installed yet: nothing added
    folder.mkdir()
    (folder / "floodsar_fake_dependency.py").write_text("VALUE = 42\n")
    assert add_to_sys_path(folder) is True
    assert add_to_sys_path(folder) is False
    assert sys.path[-1] == str(folder) and sys.path.count(str(folder)) == 1
    import floodsar_fake_dependency

    assert floodsar_fake_dependency.VALUE == 42
    sys.modules.pop("floodsar_fake_dependency")
    # numpy still comes from the QGIS/venv site-packages, not from the appended folder
    assert not Path(np.__file__).is_relative_to(folder)


def test_pip_command_uses_given_python_target_and_pins_numpy(tmp_path):
    constraints = tmp_path / "constraints.txt"
    command = pip_command(Path("/opt/qgis/bin/python3"), tmp_path / "deps", ["onnxruntime"], "1.24.2", constraints)
    assert command[:4] == ["/opt/qgis/bin/python3", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path / "deps")
    assert command[command.index("--constraint") + 1] == str(constraints)
    assert constraints.read_text().splitlines() == ["numpy==1.24.2"]
    assert command[-1] == "onnxruntime"


def test_python_executable_is_a_python_interpreter_of_this_version():
    python = python_executable()
    assert python.name.startswith("python") and python.is_file()
    import subprocess

    out = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(tuple(sys.version_info[:2]))


def test_python_executable_found_next_to_prefix_when_running_inside_qgis(tmp_path, monkeypatch):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (tmp_path / "bin").mkdir()
    interpreter = tmp_path / "bin" / f"python{version}"
    interpreter.write_text("")
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis")  # what sys.executable is inside QGIS
    monkeypatch.setattr(sys, "exec_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "base_exec_prefix", str(tmp_path))
    assert python_executable() == interpreter


def test_gpu_status_reflects_onnxruntime_providers():
    import onnxruntime

    status = gpu_status()
    assert status.available == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())
    assert "CPU" in status.description


def test_install_task_targets_the_profile_folder_with_qgis_python_and_numpy(qapp, tmp_path):
    from qgis.core import QgsApplication
    from qgis.gui import QgsMessageBar

    from floodsar.plugin.installer import PipInstallTask, plugin_dependency_folder

    folder = plugin_dependency_folder()
    assert folder.parent == Path(QgsApplication.qgisSettingsDirPath()) / "python" / "floodsar_dependencies"
    task = PipInstallTask(DEPENDENCIES[:1], QgsMessageBar())
    assert task.command[0] == str(python_executable())
    assert task.command[task.command.index("--target") + 1] == str(folder)
    constraints = Path(task.command[task.command.index("--constraint") + 1])
    assert constraints.read_text().strip() == f"numpy=={np.__version__}"
    assert task.command[-1] == "onnxruntime>=1.20,<2" and "--only-binary=:all:" in task.command
    assert constraints.parent == folder.parent  # kept with the packages: no temporary folder left behind


def test_missing_required_dependency_is_explained_with_an_install_button(iface, monkeypatch):
    import floodsar
    from floodsar.plugin import floodsar_plugin
    from qgis.core import Qgis
    from qgis.PyQt.QtWidgets import QPushButton

    absent = Dependency("floodsar_no_such_runtime", "floodsar-no-such-runtime", "runs the flood model", True)
    monkeypatch.setattr(floodsar_plugin, "missing", lambda: [absent])
    plugin = floodsar.classFactory(iface)
    plugin.initGui()
    try:
        [warning] = iface.messages(Qgis.Warning)
        assert "floodsar_no_such_runtime" in warning and "Otsu" in warning
        [item] = iface.bar.items()
        assert [b.text() for b in item.findChildren(QPushButton) if b.text() == "Install…"] == ["Install…"]
    finally:
        plugin.unload()


def test_the_command_shown_to_run_by_hand_is_quoted():
    import shlex

    from floodsar.plugin.dependencies import shell_command

    command = ["/opt/my qgis/bin/python3", "-m", "pip", "install", "onnxruntime>=1.20,<2", "x; rm -rf ~"]
    assert shlex.split(shell_command(command)) == command
