"""The plugin zip: what plugins.qgis.org accepts."""
from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile

REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
                     "tracker", "repository", "hasProcessingProvider", "category", "tags", "icon")


def test_package_command_builds_a_valid_plugin_zip(tmp_path, repo_root):
    # run as users do, in a Python that has never imported qgis
    done = subprocess.run([sys.executable, "-m", "floodsar.plugin.package", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    zips = list(tmp_path.glob("floodsar-*.zip"))
    assert len(zips) == 1 and zips[0].stat().st_size < 25 * 1024 * 1024
    names = zipfile.ZipFile(zips[0]).namelist()
    assert {name.split("/")[0] for name in names} == {"floodsar"}
    for required in ("__init__.py", "metadata.txt", "LICENSE", "plugin/floodsar_plugin.py", "engine/errors.py",
                     "resources/styles/water_mask.qml", "resources/icons/floodsar.png"):
        assert f"floodsar/{required}" in names
    forbidden = ("floodsar/tests/", "floodsar/training/", "floodsar/.ci/", "floodsar/.git", "__pycache__", ".pyc")
    assert not [name for name in names if any(part in name for part in forbidden)]

    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read_string(zipfile.ZipFile(zips[0]).read("floodsar/metadata.txt").decode())
    general = metadata["general"]
    assert [key for key in REQUIRED_METADATA if not general.get(key)] == []
    assert general["qgisMinimumVersion"] == "3.22" and general["hasProcessingProvider"] == "yes"
    assert general["category"] == "Raster"
    assert zips[0].name == f"floodsar-{general['version']}.zip"
    assert f"floodsar/{general['icon']}" in names
    assert "GNU GENERAL PUBLIC LICENSE" in zipfile.ZipFile(zips[0]).read("floodsar/LICENSE").decode()
    assert "qgis" not in subprocess.run(
        [sys.executable, "-c", "import sys, floodsar.plugin.package; print(' '.join(sys.modules))"],
        capture_output=True, text=True, cwd=tmp_path).stdout.split()


def test_plugin_zip_leaves_out_the_benchmark_and_the_command_line_still_works(tmp_path, repo_root):
    from floodsar.plugin import package

    files = {path.as_posix() for path in package.plugin_files()}
    assert "engine/cli.py" in files and "engine/pipeline.py" in files
    assert not [name for name in files if name.startswith("engine/benchmark")]
    # the zip's engine (no benchmark package) still builds its command line, without `benchmark`
    engine = tmp_path / "floodsar" / "engine"
    engine.mkdir(parents=True)
    (tmp_path / "floodsar" / "__init__.py").write_text("")
    for name in files:
        if name.startswith("engine/"):
            (engine / name[len("engine/"):]).parent.mkdir(parents=True, exist_ok=True)
            (engine / name[len("engine/"):]).write_bytes((repo_root / name).read_bytes())
    done = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from floodsar.engine import cli; cli.build_parser().parse_args(['benchmark'])",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'benchmark'" in done.stderr
