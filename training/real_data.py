"""Where the real labelled Sentinel-1 chips are: one setting for the commands and the tests.

``$FLOODSAR_REAL_DATA`` when set, else ``shared/data/real`` beside the checkout (the layout its
README describes: ``sen1floods11/{S1Hand,LabelHand,S2Hand,splits}``, ``stac_overflow/labelled``, ...).
"""
from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT_VARIABLE = "FLOODSAR_REAL_DATA"
#: The repository root (the ``floodsar`` package folder).
REPO_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    """The real-data folder: ``$FLOODSAR_REAL_DATA``, else ``../shared/data/real`` beside the checkout."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "real"
