"""The acquisition date of an image: from its file names (Sentinel-1 names carry it), else its tags.

Names: ``20220830``, ``2022-08-30`` or ``20220830T013512`` anywhere in the name (the first found).
Tags (any case): :data:`DATE_TAGS`, the first present that holds a date (not ``TIFFTAG_DATETIME``: that
is when the file was written). Dates are ISO 8601 (``2022-08-30`` or ``2022-08-30T01:35:12``), so they
sort in time order; None when neither names nor tags say. Used by the run report and by ``batch``.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

from .errors import FloodSarError
from .io_choice import choose_io
from .raster_io import RasterIO

#: A date (and time) in a file name: 20220830, 2022-08-30, 20220830T013512.
_NAME_DATE = re.compile(r"(?<!\d)(20\d\d|19\d\d)-?([01]\d)-?([0-3]\d)(?:T([0-2]\d)([0-5]\d)([0-5]\d))?(?!\d)")
#: Raster tags (lower case) that hold an acquisition time, most specific first.
DATE_TAGS = ("acquisition_start_time", "acquisition_start", "start_datetime", "sensing_start", "datetime",
             "acquisition_date", "date_acquired")


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


def acquisition_date(paths: Sequence[str | Path], io: Optional[RasterIO] = None) -> Optional[str]:
    """The acquisition date (ISO 8601) from the file names, else from the rasters' tags (read with ``io``,
    default :func:`.io_choice.choose_io`); None if unknown."""
    for path in paths:
        found = _parse(Path(path).name)
        if found:
            return found
    io = io or choose_io()
    for path in paths:
        try:
            tags = {key.lower(): value for key, value in io.read_tags(Path(path)).items()}
        except FloodSarError:
            continue
        for key in DATE_TAGS:
            found = _parse(tags.get(key, ""))
            if found:
                return found
    return None
