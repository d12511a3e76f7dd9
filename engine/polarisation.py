"""Sentinel-1 polarisations and how a band description or file name names one."""
from __future__ import annotations

import re

POLARISATIONS = ("VV", "VH")


def polarisation(text: str) -> str | None:
    """'VV' or 'VH' when ``text`` (a band description or file name) names exactly one of them."""
    tokens = set(re.split(r"[^A-Z0-9]+", text.upper()))
    found = [pol for pol in POLARISATIONS if pol in tokens]
    return found[0] if len(found) == 1 else None
