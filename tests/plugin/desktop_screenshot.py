"""Screenshot of the real QGIS desktop with the FloodSAR plugin: dock open, a flood map on the canvas.

    .venv/bin/python tests/plugin/desktop_screenshot.py [--output out/floodsar_desktop.png] [--method otsu]

Starts ``qgis`` under Xvfb with a fresh profile (``--profiles-path`` in a temporary
folder, the repo linked as its ``python/plugins/floodsar``, enabled in QGIS3.ini),
loads the bundled sample, runs the dock on it (the bundled model when
resources/models/floodsar_s1.onnx exists, otherwise the Otsu baseline) and saves
a PNG of the whole screen (so any error dialog would show too). QGIS runs with
Debian's Python; this venv's site-packages are put on PYTHONPATH so onnxruntime
is importable, standing in for the plugin's dependency installer.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "Spain_7370579_S1Hand.tif"
MODEL = REPO / "resources" / "models" / "floodsar_s1.onnx"
SCREEN = (1600, 1000)

# Runs inside QGIS (--code): waits for the plugin, runs the dock, grabs the screen, quits.
STARTUP = r'''
import json, os, traceback
from qgis.core import QgsApplication, QgsContrastEnhancement, QgsProject, QgsRasterLayer, QgsSingleBandGrayRenderer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface, plugins

OUTPUT, SAMPLE, METHOD, SIZE = {output!r}, {sample!r}, {method!r}, {size!r}
state = {{"ticks": 0}}


def finish(status):
    iface.mapCanvas().refreshAllLayers()
    def grab():
        QgsApplication.primaryScreen().grabWindow(0).save(OUTPUT)
        status["messages"] = [f"{{i.title()}}: {{i.text()}}" for i in iface.messageBar().items()]
        with open(OUTPUT + ".json", "w") as handle:
            json.dump(status, handle, indent=1)
        os._exit(0)
    QTimer.singleShot(4000, grab)


def guarded(step):
    """Run a step; on any error, still take the screenshot and record the traceback."""
    def run():
        try:
            step()
        except Exception:
            finish({{"error": traceback.format_exc()}})
    return run


def wait_for_result():
    state["ticks"] += 1
    dock = plugins["floodsar"].dock
    if dock.task is not None and state["ticks"] < 600:
        QTimer.singleShot(500, guarded(wait_for_result))
        return
    layers = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    iface.setActiveLayer(QgsProject.instance().mapLayersByName(state["name"])[0])
    finish({{"layers": layers}})


def start():
    if "floodsar" not in plugins:
        if state["ticks"] > 60:
            finish({{"error": "the floodsar plugin did not load"}})
            return
        state["ticks"] += 1
        QTimer.singleShot(500, guarded(start))
        return
    window = iface.mainWindow()
    window.setGeometry(0, 0, *SIZE)
    layer = QgsRasterLayer(SAMPLE, "Spain_7370579 S1", "gdal")
    gray = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    contrast = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    contrast.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    contrast.setMinimumValue(-25.0)
    contrast.setMaximumValue(0.0)
    gray.setContrastEnhancement(contrast)
    layer.setRenderer(gray)
    QgsProject.instance().addMapLayer(layer)
    iface.mapCanvas().setExtent(layer.extent())
    dock = plugins["floodsar"].dock
    dock.show()
    dock.raise_()
    dock.layer_combo.setLayer(layer)
    dock.method_combo.setCurrentIndex(dock.method_combo.findData(METHOD))
    dock.polygons_check.setChecked(True)
    state["name"] = layer.name()
    state["ticks"] = 0
    dock.run_button.click()
    QTimer.singleShot(500, guarded(wait_for_result))


QTimer.singleShot(3000, guarded(start))
'''


def make_profile(root: Path) -> Path:
    """A fresh QGIS profile with the repo linked as the floodsar plugin and enabled."""
    profile = root / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "floodsar").symlink_to(REPO, target_is_directory=True)
    (profile / "QGIS").mkdir()
    (profile / "QGIS" / "QGIS3.ini").write_text(
        "[PythonPlugins]\nfloodsar=true\n\n"
        "[qgis]\ncheckVersion=false\nshowTips322=false\nnewsfeed\\enabled=false\n"
        "projOpenGridsMissing=false\n\n[UI]\nhidebrowser=true\n", encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "out" / "floodsar_desktop.png")
    parser.add_argument("--method", choices=("model", "otsu"), default="model" if MODEL.exists() else "otsu")
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args(argv)
    if shutil.which("xvfb-run") is None or shutil.which("qgis") is None:
        print("needs qgis and xvfb-run (apt-get install qgis xvfb xauth)", file=sys.stderr)
        return 2
    output = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="floodsar_qgis_desktop_") as tmp:
        root = make_profile(Path(tmp))
        startup = root / "startup.py"
        startup.write_text(STARTUP.format(output=str(output), sample=str(SAMPLE), method=args.method,
                                          size=SCREEN), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"], HOME=str(root),
                   XDG_RUNTIME_DIR=str(root))
        env.pop("QT_QPA_PLATFORM", None)
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN[0]}x{SCREEN[1]}x24", "qgis", "--nologo",
                   "--noversioncheck", "--profiles-path", str(root), "--profile", "default", "--code", str(startup)]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
            log = done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            log = f"QGIS did not finish within {args.timeout} s\n{exc.stdout or ''}{exc.stderr or ''}"
    if not output.exists():
        print(f"no screenshot was written\n{log[-3000:]}", file=sys.stderr)
        return 1
    status = Path(str(output) + ".json")
    print(f"{output}\n{status.read_text() if status.exists() else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
