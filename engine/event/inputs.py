"""The scenes of an event: inputs expanded (files, globs, lists), VV/VH files paired, outputs named.

An INPUT is a raster path, a glob (``scenes/*.tif``), or a text list (``@list.txt``, or any
``.txt`` file) with one path or glob per line (blank lines and ``#`` comments skipped, relative
paths taken from the list's folder). Files whose names name one polarisation (the engine's
:func:`~..polarisation.polarisation` rule, e.g. ``x_vv.tif``) are paired with the file whose name
differs only in that word (``x_vh.tif``); every other file is a scene of its own.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import FloodSarError
from ..predict_options import EXTRA_OUTPUTS
from ..polarisation import POLARISATIONS, polarisation

#: The file name ending of a scene's water mask (NAME_water.tif) and its finished-run record.
MASK_ENDING, RECORD_ENDING = "_water.tif", "_water.json"
_GLOB_CHARACTERS = re.compile(r"[*?\[]")
_POLARISATION_WORD = re.compile(r"(?<![A-Za-z0-9])(VV|VH)(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class Scene:
    """One scene to map: its input files (one, or VV then VH) and where its results go.

    ``pre``: the ``--pre`` pool files it uses; ``reads``: every file whose change means mapping it
    again (its inputs, pre-flood files and flood layers).
    """

    name: str
    inputs: tuple[Path, ...]
    output: Path
    record: Path
    extra_outputs: tuple[tuple[str, Path], ...] = ()
    pre: tuple[Path, ...] = ()
    reads: tuple[Path, ...] = ()

    def outputs(self) -> list[Path]:
        """Every file the scene writes (mask first), not the record."""
        return [self.output, *(path for _, path in self.extra_outputs)]


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FloodSarError(f"{path}: cannot read this input list ({exc}); pass a text file with one "
                            "raster path per line.") from exc
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return [entry if Path(entry).is_absolute() else str(path.parent / entry) for entry in entries]


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """The raster files named by ``inputs`` (paths, globs, text lists), in order, each once, as absolute paths."""
    files: list[Path] = []
    for entry in inputs:
        text = str(entry)
        if text.startswith("@") or text.lower().endswith(".txt"):
            files += expand_inputs(_read_list(Path(text.removeprefix("@"))))
        elif _GLOB_CHARACTERS.search(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise FloodSarError(f"{text}: no file matches this pattern; check the folder and the pattern.")
            files += [Path(match) for match in matches]
        elif Path(text).is_file():
            files.append(Path(text))
        else:
            raise FloodSarError(f"{text}: file not found; check the path.")
    unique = {path.resolve(): path for path in reversed(files)}
    return [path.absolute() for path in files if unique[path.resolve()] is path]  # workers may run elsewhere


def _pair_key(path: Path) -> tuple[Path, str] | None:
    """(folder, name with the polarisation word blanked) for a file naming exactly one polarisation."""
    if polarisation(path.stem) is None:
        return None
    return path.parent.resolve(), _POLARISATION_WORD.sub("{}", path.stem).lower() + path.suffix.lower()


def _scene_name(files: Sequence[Path]) -> str:
    stem = files[0].stem
    if len(files) == 2:
        stem = _POLARISATION_WORD.sub("", stem)
        stem = re.sub(r"([_.-]){2,}", r"\1", stem).strip("_.- ") or files[0].stem
    return stem


def group_scenes(files: Sequence[Path]) -> list[tuple[Path, ...]]:
    """Each scene's input files: VV/VH pairs as (VV, VH), everything else alone, in input order."""
    partners: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in files:
        key = _pair_key(path)
        if key is not None:
            partners.setdefault(key, {})[polarisation(path.stem)] = path
    scenes: list[tuple[Path, ...]] = []
    for path in files:
        key = _pair_key(path)
        pair = partners.get(key, {}) if key is not None else {}
        if len(pair) == len(POLARISATIONS):
            if path is pair[POLARISATIONS[0]]:
                scenes.append(tuple(pair[pol] for pol in POLARISATIONS))
        else:
            scenes.append((path,))
    return scenes


def plan_scenes(inputs: Iterable[str], outdir: Path, extra_outputs: Sequence[str] = ()) -> list[Scene]:
    """The scenes of ``inputs`` with their output paths in ``outdir``; refuses name clashes up front.

    ``extra_outputs``: the :data:`~..predict_options.EXTRA_OUTPUTS` asked for (one file each per scene).
    """
    scenes = []
    claimed: dict[str, tuple[Path, ...]] = {}
    for files in group_scenes(expand_inputs(inputs)):
        name = _scene_name(files)
        if name.lower() in claimed:
            raise FloodSarError(
                f"{files[0]}: its results would overwrite those of {claimed[name.lower()][0]} (both are named "
                f"{name!r}); rename one of them or map them in separate runs.")
        claimed[name.lower()] = files
        extras = tuple((option, outdir / f"{name}{EXTRA_OUTPUTS[option].ending}") for option in extra_outputs)
        scenes.append(Scene(name, files, outdir / f"{name}{MASK_ENDING}", outdir / f"{name}{RECORD_ENDING}", extras,
                            reads=files))
    if not scenes:
        raise FloodSarError("no input rasters given; pass files, globs or a text list of scenes.")
    return scenes
