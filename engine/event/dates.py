"""The acquisition date of a scene: from its file names (Sentinel-1 names carry it), else the rasters' tags.

Names: ``20220830``, ``2022-08-30`` or ``20220830T013512`` anywhere in the name (the first found).
Tags: ``ACQUISITION_START_TIME``, ``datetime``, ``DATETIME``, ``TIFFTAG_DATETIME`` (the first present).
Dates are ISO 8601 (``2022-08-30`` or ``2022-08-30T01:35:12``), so they sort in time order; None
when neither names nor tags say.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

#: A date (and time) in a file name: 20220830, 2022-08-30, 20220830T013512.
_NAME_DATE = re.compile(r"(?<!\d)(20\d\d|19\d\d)-?([01]\d)-?([0-3]\d)(?:T([0-2]\d)([0-5]\d)([0-5]\d))?(?!\d)")
#: Raster tags that hold an acquisition time, most specific first.
DATE_TAGS = ("ACQUISITION_START_TIME", "datetime", "DATETIME", "TIFFTAG_DATETIME")


def _parse(text: str) -> Optional[str]:
    match = _NAME_DATE.search(text.replace(":", "").replace(" ", "T", 1) if ":" in text else text)
    if not match:
        return None
    year, month, day, *clock = match.groups()
    try:
        when = datetime(int(year), int(month), int(day), *(int(v) for v in clock if v is not None))
    except ValueError:
        return None
    return when.isoformat() if clock[0] is not None else when.date().isoformat()


def scene_date(paths: Sequence[Path]) -> Optional[str]:
    """The acquisition date (ISO 8601) from the file names, else from the rasters' tags; None if unknown."""
    for path in paths:
        found = _parse(path.name)
        if found:
            return found
    import rasterio

    for path in paths:
        try:
            with rasterio.open(path) as raster:
                tags = raster.tags()
        except rasterio.errors.RasterioIOError:
            continue
        for key in DATE_TAGS:
            found = _parse(tags.get(key, ""))
            if found:
                return found
    return None
