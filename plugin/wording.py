"""Engine messages worded for QGIS: command-line options become the names of the fields a user sets.

The engine words its errors for the command line (``--vv-band N``); the toolbox and the
panel show the same facts with their own field names. Does not import qgis.
"""
from __future__ import annotations

import re

#: Command-line phrases and the QGIS wording for them, most specific first.
PHRASES = (
    (r"pass a file with both bands, or the VV and VH files together \(floodsar predict VV\.tif VH\.tif\)",
     "choose a layer with both bands, or this VV layer as the input and its VH layer as 'VH layer'"),
    (r"pass the VV file first and the VH file second",
     "choose the VV layer as the input and the VH layer as 'VH layer'"),
    (r"two files: VV first, then VH", "a VV layer and a VH layer ('VH layer')"),
    (r"say which bands hold them with --vv-band N --vh-band M", "choose them in 'VV band' and 'VH band'"),
    (r"pass different --vv-band and --vh-band", "choose different 'VV band' and 'VH band'"),
    (r"pass --units db or --units linear", "set 'Backscatter units' to dB or linear"),
    (r"--vv-band (\d+) --vh-band (\d+)", r"'VV band' \1 and 'VH band' \2"),
    (r"pass a FloodSAR model with --model PATH, or use the classical baseline with --method otsu",
     "choose a FloodSAR model file, or use the Otsu threshold (baseline) method"),
    (r"check the --model path", "check the model file"),
    (r"use --device cpu", "choose the CPU device"),
    (r"--device cuda", "the GPU device"),
    (r"a --dem only masks", "a DEM (flood inputs) only masks"),
    (r"--vv-band", "'VV band'"),
    (r"--vh-band", "'VH band'"),
    (r"--units", "'Backscatter units'"),
    (r"--min-area", "'Minimum water patch area'"),
    (r"--threshold", "'Threshold'"),
    (r"--extent", "'Area to map'"),
    (r"-o/--output", "the water mask output"),
    (r"--probabilities", "the water probability output"),
    (r"--vector", "the flood polygons output"),
    (r"--tile", "'Tile size'"),
    (r"--overlap", "'Tile overlap'"),
    (r"--batch", "'Tiles per batch'"),
    (r"--backend", "'Backend'"),
    (r"use --method otsu", "use the Otsu threshold (baseline) method"),
    (r"--method model", "the deep learning method"),
)


def for_qgis(message: str) -> str:
    """``message`` with command-line options replaced by the QGIS field names."""
    for pattern, replacement in PHRASES:
        message = re.sub(pattern, replacement, message)
    return message
