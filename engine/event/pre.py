"""Pre-flood images for an event (``batch --pre POOL...``): each scene gets the pool images overlapping it.

The pool is expanded and paired like the scenes (files, globs, text lists; ``NAME_vv``/``NAME_vh``
files are one image). A scene uses every pool image whose footprint (bounding box, in the scene's
CRS) overlaps its own:

- one image: used as it is (the flood code reads it onto the scene's grid);
- several: combined in ``OUTDIR/NAME_pre/`` as ``pre.vrt`` (``pre_vv.vrt`` + ``pre_vh.vrt`` for paired
  files), each image warped onto the scene's grid (bilinear, as a single pre image is) in its own
  VRT there. Where images overlap, **the most recent acquisition lies on top** (date from the file
  name, else the raster's tags, as the event report reads it; undated images lie below dated ones,
  in the order given). The images of one scene must have the same form (paired or not, same band
  count) and should be the same product (units are detected once, on the combination);
- none: the scene is not mapped and is reported as failed with that reason (mapped without a
  pre-flood image, its permanent water would count as flood).

Pixels that no overlapping image covers (a bounding box overlaps but the swath does not) are
decided from the post-flood image alone, counted and warned about by the flood code.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..dates import acquisition_date
from ..errors import FloodSarError
from ..sentinel1 import POLARISATIONS
from .inputs import expand_inputs, group_scenes
from .runner import one_line
from .vrt import StackBand, gdal_type, grid_of, write_stack, write_warped


#: The folder of a scene's combined pre-flood images: OUTDIR/NAME_pre/.
PRE_FOLDER = "_pre"


@dataclass(frozen=True)
class PreImage:
    """One pool image: its files (one, or VV then VH), footprint (CRS WKT, bounds) and date (or None)."""

    files: tuple[Path, ...]
    crs_wkt: str
    bounds: tuple[float, float, float, float]
    date: Optional[str]


def _footprint(path: Path, role: str) -> tuple[str, tuple[float, float, float, float]]:
    """(CRS WKT, bounds) of a raster; FloodSarError naming it as ``role`` when it has none or is unreadable."""
    import rasterio

    try:
        with rasterio.open(path) as raster:
            if raster.crs is None:
                raise FloodSarError(f"{path}: the {role} has no coordinate reference system; give it one "
                                    "(gdal_edit.py -a_srs EPSG:...) or leave it out.")
            return raster.crs.to_wkt(), tuple(raster.bounds)
    except rasterio.errors.RasterioIOError as exc:
        raise FloodSarError(f"{path}: the {role} is not a raster GDAL can read ({one_line(str(exc))}); "
                            "check the file or leave it out.") from exc


def read_pool(entries: Sequence[str]) -> list[PreImage]:
    """The pool of pre-flood images named by ``entries`` (paths, globs, lists), in order."""
    pool = []
    for files in group_scenes(expand_inputs(entries)):
        crs_wkt, bounds = _footprint(files[0], "pre-flood image")
        pool.append(PreImage(files, crs_wkt, bounds, acquisition_date(files)))
    return pool


def _overlaps(image: PreImage, crs_wkt: str, bounds: Sequence[float]) -> bool:
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds(CRS.from_wkt(image.crs_wkt), CRS.from_wkt(crs_wkt), *image.bounds,
                                                densify_pts=21)
    return west < bounds[2] and bounds[0] < east and south < bounds[3] and bounds[1] < north


def overlapping(pool: Sequence[PreImage], scene_input: Path) -> list[PreImage]:
    """The pool images overlapping ``scene_input``'s footprint, oldest first (undated first, in pool order).

    FloodSarError with the reason when there is none.
    """
    crs_wkt, bounds = _footprint(scene_input, "scene")
    found = [image for image in pool if _overlaps(image, crs_wkt, bounds)]
    if not found:
        raise FloodSarError(f"no --pre image overlaps {scene_input}; add a pre-flood image covering it, or map it "
                            "in a run without --pre (--reference-water then marks the normal water).")
    return sorted(found, key=lambda image: (image.date is not None, image.date or ""))


def _form(image: PreImage) -> tuple[int, ...]:
    """The band count of each of an image's files: images of one scene must share it to be stacked."""
    import rasterio

    counts = []
    for path in image.files:
        with rasterio.open(path) as raster:
            counts.append(raster.count)
    return tuple(counts)


def _nodata(dtype: str) -> float:
    """The nodata value of warped and stacked pre images: NaN for floats, else 0 (SAR's zero fill)."""
    return float("nan") if dtype.startswith("float") else 0.0


def pre_files(images: Sequence[PreImage], folder: Path) -> list[Path]:
    """The pre-flood files a scene reads: the one image's own, else the stack VRTs in ``folder``."""
    if len(images) == 1:
        return list(images[0].files)
    if len(images[0].files) == 2:
        return [folder / f"pre_{polarisation.lower()}.vrt" for polarisation in POLARISATIONS]
    return [folder / "pre.vrt"]


def write_combined(images: Sequence[PreImage], scene_input: Path, stacks: Sequence[Path]) -> None:
    """Write the ``stacks`` (:func:`pre_files`) of several ``images`` (oldest first, so the latest lies on
    top) on ``scene_input``'s grid, each image warped in its own VRT beside them; nothing for one image."""
    if len(images) == 1:
        return
    forms = {image.files[0]: _form(image) for image in images}
    if len(set(forms.values())) > 1:
        described = "; ".join(f"{path.name}: {len(form)} file(s) of {'/'.join(map(str, form))} band(s)"
                              for path, form in forms.items())
        raise FloodSarError(f"the --pre images overlapping it differ in form ({described}); give --pre images "
                            "of one kind (all VV/VH pairs, or all files with both bands).")
    import rasterio

    grid = grid_of(scene_input)
    folder = stacks[0].parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for part, stack in enumerate(stacks):
        with rasterio.open(images[-1].files[part]) as latest:
            descriptions, dtypes = latest.descriptions, latest.dtypes
        warped = []
        for i, image in enumerate(images):
            warped.append(Path(f"{i:02d}_{image.files[part].stem}.vrt"))
            write_warped(image.files[part], grid, folder / warped[-1], "bilinear", _nodata(dtypes[0]))
        write_stack(stack, grid, [StackBand(description or "", gdal_type(dtype), _nodata(dtype),
                                            [(path, band) for path in warped])
                                  for band, (description, dtype) in enumerate(zip(descriptions, dtypes), start=1)])
