"""Build the plugin zip for plugins.qgis.org: ``python -m floodsar.plugin.package [--output-dir dist]``.

The zip holds one lower-case folder ``floodsar/`` with only what the plugin needs at
run time (engine, plugin, resources, metadata.txt, LICENSE, README.md); no training
code, benchmark, tests or CI files. Does not import qgis.
"""
from __future__ import annotations

import argparse
import configparser
import sys
import zipfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
FOLDER = "floodsar"
INCLUDED = ("__init__.py", "metadata.txt", "LICENSE", "README.md", "engine", "plugin", "resources")
EXCLUDED_PARTS = {"__pycache__", ".pytest_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".aux.xml"}
#: Files and folders (relative paths) the plugin does not need at run time.
EXCLUDED_PATHS = ("plugin/package.py", "engine/benchmark")
MAX_BYTES = 25 * 1024 * 1024


def version(root: Path = ROOT) -> str:
    """The plugin version from metadata.txt."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def _excluded(relative: Path) -> bool:
    return any(relative == Path(name) or Path(name) in relative.parents for name in EXCLUDED_PATHS)


def plugin_files(root: Path = ROOT) -> Iterator[Path]:
    """Every file that goes into the zip, relative to ``root``."""
    for name in INCLUDED:
        path = root / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            relative = file.relative_to(root)
            if (file.is_file() and not EXCLUDED_PARTS & set(relative.parts)
                    and not any(file.name.endswith(s) for s in EXCLUDED_SUFFIXES)
                    and not _excluded(relative)):
                yield relative


def build(output_dir: Path, root: Path = ROOT) -> Path:
    """Write ``floodsar-<version>.zip`` into ``output_dir``; raises if it exceeds 25 MB."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{FOLDER}-{version(root)}.zip"
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files(root):
            archive.write(root / relative, f"{FOLDER}/{relative.as_posix()}")
    if partial.stat().st_size > MAX_BYTES:
        partial.unlink()
        raise SystemExit(f"plugin zip would be over 25 MB ({MAX_BYTES} bytes), the plugins.qgis.org limit")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist", help="where to write the zip (dist/)")
    args = parser.parse_args(argv)
    path = build(args.output_dir)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
